namespace BuildFarm.Contracts.Builds;

/// <summary>
/// Command: build one derivation. Travels inside a <see cref="SignedBuildRequest"/> on the quorum queue of its
/// (system, required features) class; exactly one capable worker takes it.
/// </summary>
/// <param name="BuildId">The build, stable across attempts.</param>
/// <param name="Attempt">1 for the first try; the dispatcher bumps it when it republishes after a lost lease.</param>
/// <param name="DrvPath">Logical store path of the <c>.drv</c>.</param>
/// <param name="DrvText">The <c>.drv</c>, byte for byte: its ATerm when it is UTF-8, otherwise <c>base64:</c> and the
/// base64 of its bytes (<c>BuildFarm.Store.Derivations.DrvText</c>).</param>
/// <param name="StoreDir">Logical store directory the paths live under (e.g. <c>/nix/store</c>).</param>
/// <param name="System">The derivation's system, e.g. <c>x86_64-linux</c>.</param>
/// <param name="RequiredFeatures">Sorted, distinct <c>requiredSystemFeatures</c>.</param>
/// <param name="InputClosure">Every store path the build needs, with the NAR hashes the origin vouches for.</param>
/// <param name="WantedOutputs">Output ids to build (e.g. <c>out</c>, <c>dev</c>).</param>
/// <param name="Origin">Where to pull missing inputs from and send outputs to; null when inputs are already local.</param>
/// <param name="Limits">Timeouts the worker enforces.</param>
/// <param name="Priority">
/// The submitter's priority (0 = normal), recorded and shown. It orders only the dispatcher's own publishing (several
/// requests published at once, as after a broker outage: higher first); class queues are first-in first-out quorum
/// queues, so it never overtakes a request already queued.
/// </param>
/// <param name="RequestedAt">When the dispatcher published this attempt.</param>
/// <param name="Trusted">
/// An operator marked this build trusted at submission: it may run on a worker without a sandbox. The request is
/// then routed by its features plus <c>buildfarm-trusted</c> (never the derivation's own features, which may not
/// name it). Optional and added later: absent (false) from a dispatcher that predates it.
/// </param>
public sealed record BuildDerivation(
    Guid BuildId,
    int Attempt,
    string DrvPath,
    string DrvText,
    string StoreDir,
    string System,
    IReadOnlyList<string> RequiredFeatures,
    IReadOnlyList<InputPath> InputClosure,
    IReadOnlyList<string> WantedOutputs,
    OriginEndpoint? Origin,
    BuildLimits Limits,
    int Priority,
    DateTimeOffset RequestedAt,
    bool Trusted = false);

/// <summary>One path of a build's input closure.</summary>
/// <param name="Path">Logical store path.</param>
/// <param name="NarHash"><c>sha256:&lt;nix32&gt;</c> of its NAR.</param>
/// <param name="NarSize">Size of its NAR in bytes.</param>
/// <param name="Ca">
/// Its content address as the origin's store records it (Nix's <c>ca</c>: <c>fixed:r:sha256:…</c>,
/// <c>text:sha256:…</c>), or null; Nix 2.8 writes it into a structured <c>exportReferencesGraph</c>. Optional and
/// added later: absent (null) from a dispatcher that predates it.
/// </param>
public sealed record InputPath(string Path, string NarHash, long NarSize, string? Ca = null);

/// <summary>The origin store's SSH endpoint, as the worker must reach it.</summary>
/// <param name="Host">Host name or address.</param>
/// <param name="Port">SSH port.</param>
/// <param name="User">Login user.</param>
/// <param name="HostKeyFingerprint">Pinned host key, OpenSSH <c>SHA256:…</c> form; anything else is refused.</param>
/// <param name="RemoteCommand">The <c>buildfarm</c> command on the origin, with its store flags.</param>
public sealed record OriginEndpoint(string Host, int Port, string User, string HostKeyFingerprint, string RemoteCommand);

/// <summary>Limits enforced by the worker; zero means none.</summary>
/// <param name="Timeout">Wall-clock limit of the builder.</param>
/// <param name="MaxSilentTime">Longest stretch without log output.</param>
public sealed record BuildLimits(TimeSpan Timeout, TimeSpan MaxSilentTime);
