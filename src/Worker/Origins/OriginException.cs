namespace BuildFarm.Worker.Origins;

/// <summary>
/// Pulling inputs from or returning outputs to an origin failed or was refused. The message names the origin and
/// the cause and reaches the dispatcher verbatim as an infrastructure failure (another worker may succeed).
/// </summary>
internal sealed class OriginException(string message, Exception? inner = null) : Exception(message, inner);
