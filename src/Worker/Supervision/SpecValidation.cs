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

    /// <summary>
    /// <c>env -i -- NAME=VALUE… BUILDER ARGS…</c>: the exact environment, then the builder (absolute, so never read
    /// as an option). A builder path containing '=' (legal in store
    /// names) would be read as one more assignment: it goes through busybox <c>setpriv --</c>, which without
    /// options is a plain exec (one more exec, so only when needed).
    /// </summary>
    public static IEnumerable<string> ExecArgs(BuilderSpec spec, string busybox)
    {
        yield return busybox;
        yield return "env";
        yield return "-i";
        yield return "--";
        foreach (var (name, value) in spec.Env.OrderBy(e => e.Key, StringComparer.Ordinal))
            yield return name + "=" + value;
        if (spec.Builder.Contains('=', StringComparison.Ordinal))
        {
            yield return busybox;
            yield return "setpriv";
            yield return "--";
        }

        yield return spec.Builder;
        foreach (var a in spec.Args)
            yield return a;
    }
}
