using BuildFarm.Store.Derivations;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// What the worker needs from a <c>.drv</c> to run its builder: outputs (id → logical store path), input derivation
/// and source paths, system, builder, arguments and environment (and the parsed derivation, when read from a .drv).
/// </summary>
internal sealed record BuildRecipe(
    IReadOnlyDictionary<string, string> Outputs,
    IReadOnlyList<string> InputDrvs,
    IReadOnlyList<string> InputSrcs,
    string System,
    string Builder,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Env,
    Derivation? Parsed = null);

/// <summary>Turns a request's DrvText into a <see cref="BuildRecipe"/>; errors are precise messages.</summary>
internal interface IDerivationReader
{
    /// <summary>Null error on success.</summary>
    BuildRecipe? Read(string storeDir, string drvPath, string drvText, out string? error);
}
