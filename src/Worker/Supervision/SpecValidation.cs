namespace BuildFarm.Worker.Supervision;

/// <summary>Checks of a spec that do not depend on the machine: a failure here is a permanent build failure.</summary>
internal static class SpecValidation
{
    /// <summary>
    /// The result of a spec that can never run (arguments checked), or null when it can: the first step of every
    /// <see cref="IBuilderRunner"/>.
    /// </summary>
    public static Task<BuilderResult>? Rejection(BuilderSpec spec, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(onLog);
        return Problem(spec) is { } problem ? Task.FromResult(new BuilderResult(BuilderOutcome.Rejected, null, problem, TimeSpan.Zero, 0)) : null;
    }

    /// <summary>Null when the spec can be executed, otherwise why not.</summary>
    public static string? Problem(BuilderSpec spec)
    {
        // Relative builders would be looked up on PATH by env (execvp), unlike Nix's execve: require absolute ones.
        if (!spec.Builder.StartsWith('/') || spec.Builder.Contains('\0', StringComparison.Ordinal))
            return $"builder '{spec.Builder}' is not an absolute path";
        for (var i = 0; i < spec.Args.Count; i++)
        {
            if (spec.Args[i].Contains('\0', StringComparison.Ordinal))
                return $"builder argument {i} contains NUL";
        }

        foreach (var (name, value) in spec.Env)
        {
            if (name.Length == 0 || name.Contains('=', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
                return $"environment variable name '{name}' is empty or contains '=' or NUL";
            if (value.Contains('\0', StringComparison.Ordinal))
                return $"environment variable '{name}' contains NUL";
        }

        foreach (var (what, dir) in new[] { ("logical store directory", spec.LogicalStoreDir), ("physical store directory", spec.PhysicalStoreDir), ("build directory", spec.BuildDir) })
        {
            if (!Path.IsPathFullyQualified(dir) || dir.Contains('\0', StringComparison.Ordinal))
                return $"{what} '{dir}' is not an absolute path";
        }

        return null;
    }
}
