namespace BuildFarm.Worker.Derivations;

/// <summary>
/// Derivations the worker refuses before running anything, as Nix 2.8 would (or, for builtin builders, as a
/// documented choice: Nix runs <c>builtin:fetchurl</c>, <c>builtin:buildenv</c> and <c>builtin:unpack-channel</c>
/// inside its own process; the worker implements none of them, so such derivations must be built by Nix itself).
/// </summary>
internal static class Refusals
{
    /// <summary>Null when the worker may build the derivation, else the reason (Nix's message where Nix refuses).</summary>
    public static string? Check(string drvPath, string builder, IReadOnlyDictionary<string, string> env, bool sandboxed)
    {
        if (builder.StartsWith("builtin:", StringComparison.Ordinal))
            return $"unsupported builtin builder '{builder["builtin:".Length..]}': the worker runs no builtin builders; build '{drvPath}' with Nix itself (e.g. preferLocalBuild = true)";
        var attrs = DerivationAttributes.Parse(drvPath, env, out var jsonError);
        if (jsonError is not null)
            return jsonError;
        try
        {
            // Nix with sandbox = true refuses __noChroot; the worker's sandbox is always on when it is used.
            if (sandboxed && attrs.GetBool("__noChroot"))
                return $"derivation '{drvPath}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'";
        }
        catch (DerivationAttributeException e)
        {
            return e.Message;
        }

        return null;
    }
}
