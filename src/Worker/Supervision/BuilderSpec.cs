namespace BuildFarm.Worker.Supervision;

/// <summary>
/// One builder run. <paramref name="Env"/> is the builder's complete environment (the caller computes Nix semantics:
/// drv env plus NIX_BUILD_TOP, TMPDIR, HOME, PATH, NIX_STORE, PWD…); nothing of the worker's environment is inherited.
/// </summary>
/// <param name="Builder">Absolute path of the program, executed directly (no shell, no PATH lookup), as Nix does.</param>
/// <param name="Args">Arguments passed verbatim.</param>
/// <param name="Env">Complete environment; names non-empty and without '=' or NUL, values without NUL.</param>
/// <param name="LogicalStoreDir">Store directory the builder sees, e.g. <c>/nix/store</c>: in the sandbox a private
/// directory holding only <paramref name="InputPaths"/> and the outputs. Unsandboxed, the builder sees the host's
/// filesystem and the two directories are only what the caller named outputs after.</param>
/// <param name="PhysicalStoreDir">The worker's own store on the host, e.g. <c>/srv/w1/nix/store</c>.</param>
/// <param name="BuildDir">Host directory for the build; the builder starts in it, and sees it at <c>/build</c> in the
/// sandbox (Nix's sandbox-build-dir), at the same path unsandboxed.</param>
/// <param name="AllowNetwork">True only for fixed-output derivations: keeps the host network (and the host's
/// resolv.conf, services and hosts files, as Nix gives them); otherwise the builder gets its own network namespace
/// with only loopback up (sandbox only: unsandboxed builders share the host's).</param>
/// <param name="Timeout">Wall-clock limit; zero or <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> = none.</param>
/// <param name="MaxSilentTime">Limit without any output; zero or infinite = none.</param>
/// <param name="InputPaths">Sandbox only: the logical store paths the builder may see (its input closure), each
/// bind-mounted read-only from <paramref name="PhysicalStoreDir"/>; nothing else of the store is visible.</param>
/// <param name="OutputPaths">Sandbox only: the logical paths of the outputs. The builder creates them in its private
/// store directory; after a successful exit the sandbox moves each one it made into <paramref name="PhysicalStoreDir"/>.</param>
/// <param name="Devices">Sandbox only: host devices the build may use (e.g. <c>/dev/kvm</c> for a build requiring kvm).</param>
public sealed record BuilderSpec(
    string Builder,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Env,
    string LogicalStoreDir,
    string PhysicalStoreDir,
    string BuildDir,
    bool AllowNetwork,
    TimeSpan Timeout,
    TimeSpan MaxSilentTime,
    IReadOnlyList<string>? InputPaths = null,
    IReadOnlyList<string>? OutputPaths = null,
    IReadOnlyList<string>? Devices = null);
