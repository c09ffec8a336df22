namespace BuildFarm.Worker.Origins;

/// <summary>
/// Pulling inputs from or returning outputs to an origin failed or was refused. The message names the origin and
/// the cause and reaches the dispatcher verbatim as an infrastructure failure (another worker may succeed), or, when
/// <see cref="Permanent"/>, as a final rejection (an input the origin does not have or that no trusted key signed:
/// every worker would meet the same refusal).
/// </summary>
internal sealed class OriginException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>True when no retry can succeed: the build fails at once with this reason.</summary>
    public bool Permanent { get; init; }
}
