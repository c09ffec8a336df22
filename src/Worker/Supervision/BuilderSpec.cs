namespace BuildFarm.Worker.Supervision;

/// <summary>
/// One builder run. <paramref name="Env"/> is the builder's complete environment (the caller computes Nix semantics:
/// drv env plus NIX_BUILD_TOP, TMPDIR, HOME, PATH, NIX_STORE, PWD…); nothing of the worker's environment is inherited.
/// </summary>
/// <param name="Builder">Absolute path of the program, executed directly (no shell, no PATH lookup), as Nix does.</param>
/// <param name="Args">Arguments passed verbatim.</param>
/// <param name="Env">Complete environment; names non-empty and without '=' or NUL, values without NUL.</param>
/// <param name="LogicalStoreDir">Store directory the builder sees, e.g. <c>/nix/store</c>. It must exist on the host
/// (an empty directory is enough): the sandbox bind-mounts <paramref name="PhysicalStoreDir"/> over it in a private
/// mount namespace, so the host's own directory is never touched. Unsandboxed, the builder sees the host's
/// filesystem and the two directories are only what the caller named outputs after.</param>
/// <param name="PhysicalStoreDir">The worker's own store on the host, e.g. <c>/srv/w1/nix/store</c>.</param>
/// <param name="BuildDir">Host directory for the build; the builder sees it at the same path and starts in it.</param>
/// <param name="AllowNetwork">True only for fixed-output derivations: keeps the host network; otherwise the builder
/// gets its own network namespace with only loopback up (sandbox only: unsandboxed builders share the host's).</param>
/// <param name="Timeout">Wall-clock limit; zero or <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> = none.</param>
/// <param name="MaxSilentTime">Limit without any output; zero or infinite = none.</param>
public sealed record BuilderSpec(
    string Builder,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Env,
    string LogicalStoreDir,
    string PhysicalStoreDir,
    string BuildDir,
    bool AllowNetwork,
    TimeSpan Timeout,
    TimeSpan MaxSilentTime);
