using BuildFarm.Messaging.Broker;

namespace BuildFarm.Worker.Configuration;

/// <summary>
/// The worker's configuration: a JSON file (<c>buildfarm-worker run --config FILE</c>) whose root object is this
/// type, overridable per key by environment variables <c>BUILDFARM_WORKER__Key</c> (nested keys with <c>__</c>,
/// e.g. <c>BUILDFARM_WORKER__Broker__Uri</c>, list items by index: <c>BUILDFARM_WORKER__Systems__0</c>).
/// </summary>
public sealed class WorkerOptions
{
    /// <summary>Unique name of this worker in the farm (letters, digits, '-', '_', '.'). Required.</summary>
    public string Name { get; set; } = "";

    /// <summary>Systems it builds for, e.g. <c>x86_64-linux</c>. At least one.</summary>
    public List<string> Systems { get; set; } = [];

    /// <summary>Features it offers, e.g. <c>kvm</c>, <c>big-parallel</c>. Default none.</summary>
    public List<string> SupportedFeatures { get; set; } = [];

    /// <summary>Features every build it takes must require (e.g. <c>benchmark</c>). Default none.</summary>
    public List<string> MandatoryFeatures { get; set; } = [];

    /// <summary>Concurrent builds at most (Nix's maxJobs), 1..1024. Default 1.</summary>
    public int Slots { get; set; } = 1;

    /// <summary>Relative speed (&gt; 0, at most 100); faster idle workers get builds first. Default 1.</summary>
    public double SpeedFactor { get; set; } = 1;

    /// <summary>The worker's own store, where outputs are registered.</summary>
    public StoreSection Store { get; set; } = new();

    /// <summary>Key files.</summary>
    public KeysSection Keys { get; set; } = new();

    /// <summary>How old a signed build request or control command may be before it is refused.</summary>
    public FreshnessSection Freshness { get; set; } = new();

    /// <summary>The RabbitMQ broker.</summary>
    public BrokerOptions Broker { get; set; } = new();

    /// <summary>How often the worker reports its status (also renewing its builds' leases), 1 s..5 min. Default 5 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Base directory under which each build gets a fresh, private build directory. Default <c>/tmp/buildfarm-builds</c>.</summary>
    public string BuildDir { get; set; } = "/tmp/buildfarm-builds";

    /// <summary>Build-log limits and the agent's own log.</summary>
    public LogSection Logs { get; set; } = new();

    /// <summary>
    /// Run builders directly on this machine when the build sandbox is not available here (the worker probes it at
    /// start-up). Default false: without a sandbox the worker then refuses every build (failed as infrastructure,
    /// with the probe's reason) and starts paused, because an unsandboxed builder can read and write anything this
    /// user can. When the sandbox works it is always used, whatever this says.
    /// </summary>
    public bool AllowUnsandboxed { get; set; }

    /// <summary>How the build sandbox runs builders: build users, extra paths, limits.</summary>
    public SandboxSection Sandbox { get; set; } = new();

    /// <summary>Origin stores to pull inputs from and return outputs to over SSH. Default none.</summary>
    public OriginsSection Origins { get; set; } = new();

    /// <summary>Cores a builder is told it may use (<c>NIX_BUILD_CORES</c>); 0 = all cores of the machine. Default 0.</summary>
    public int BuildCores { get; set; }

    /// <summary>
    /// The message contract versions this worker speaks (it consumes, and announces in its heartbeat, the requests of
    /// exactly these). Default empty: every version this release speaks (<c>ContractsInfo.Spoken</c>). For rehearsing
    /// an upgrade and for tests: a version up to one above this release's own may be named; such requests are still
    /// read in this release's format.
    /// </summary>
    public List<int> ContractVersions { get; set; } = [];

    /// <summary>The versions in effect: <see cref="ContractVersions"/>, or every version this release speaks.</summary>
    public IReadOnlyList<int> SpokenContractVersions() =>
        ContractVersions.Count == 0 ? Contracts.ContractsInfo.Spoken : [.. ContractVersions.Distinct().Order()];
}

/// <summary>The worker's local store.</summary>
public sealed class StoreSection
{
    /// <summary>The smallest <see cref="MaxSizeBytes"/> accepted.</summary>
    public const long MinimumCap = 1L << 20;

    /// <summary>Logical store directory, absolute, no trailing slash. Default <c>/nix/store</c>.</summary>
    public string StoreDir { get; set; } = "/nix/store";

    /// <summary>Physical root the store lives under (like Nix's <c>?root=</c>); empty = the logical directory itself. Default empty.</summary>
    public string Root { get; set; } = "";

    /// <summary>
    /// The store is a cache: at most this many NAR bytes of valid paths, least recently used paths evicted first (never
    /// one a running build needs). 0 = no cap. At least 1 MiB when set. Default 0.
    /// </summary>
    public long MaxSizeBytes { get; set; }

    /// <summary>
    /// Free bytes to keep on the store's file system: paths are evicted (as for <see cref="MaxSizeBytes"/>) before a
    /// fetch would leave less. 0 = no floor. Default 0.
    /// </summary>
    public long MinFreeBytes { get; set; }

    /// <summary>
    /// The worker stops claiming builds while the store's or the build directory's file system has fewer free bytes
    /// than this (a build there would fail for lack of space, not for its own fault), and claims again once twice as
    /// many are free; a build that failed meanwhile is reported as an infrastructure failure, so the dispatcher retries
    /// it elsewhere. 0 = never. Default 16 MiB.
    /// </summary>
    public long PauseBelowFreeBytes { get; set; } = 16L << 20;
}

/// <summary>Key files (Nix's <c>name:base64</c> format).</summary>
public sealed class KeysSection
{
    /// <summary>Secret Ed25519 key the worker signs its outputs with (<c>nix key generate-secret</c>). Required.</summary>
    public string SigningKeyFile { get; set; } = "";

    /// <summary>Public keys of the dispatchers whose build requests it accepts, one per line. Required.</summary>
    public string TrustedDispatcherKeysFile { get; set; } = "";
}

/// <summary>
/// How long the dispatcher's signatures stay good: a request or command issued (by the dispatcher's clock) longer ago
/// than its maximum age, or further in the future than the clock skew, is refused, so one recorded long ago cannot
/// be replayed. A refused request is reported (<c>BuildRequestExpired</c>) and the dispatcher republishes a fresh copy
/// while the build is still wanted.
/// </summary>
public sealed class FreshnessSection
{
    /// <summary>
    /// Oldest build request accepted, 1 min..7 days. Default 1 day. A request that waits in its queue longer (a deep
    /// backlog) is refused and republished at the back of the queue, so keep it above the longest expected wait.
    /// </summary>
    public TimeSpan MaxRequestAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Oldest control command (cancel, drain, pause, resume, probe) acted on, 10 s..1 day. Default 5 min. Judged by this
    /// worker's clock or, when that disagrees, by the dispatcher's clock as learnt from its signed messages
    /// (<see cref="Control.DispatcherClock"/>); within it a command id is applied once (<see cref="Control.AppliedCommands"/>).
    /// </summary>
    public TimeSpan MaxCommandAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How far the dispatcher's clock may be ahead of this worker's, 0..1 hour. Default 2 min.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>Limits on what a build may log and where the agent's own log goes.</summary>
public sealed class LogSection
{
    /// <summary>Most bytes of builder output forwarded per build; beyond that the log is truncated with a note. Default 10 MiB.</summary>
    public long MaxBytesPerBuild { get; set; } = 10 * 1024 * 1024;

    /// <summary>Last lines of the log sent with a failure. Default 40.</summary>
    public int TailLines { get; set; } = 40;

    /// <summary>How long log lines are gathered before one <c>BuildLogEmitted</c> is published. Default 250 ms.</summary>
    public TimeSpan BatchInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Optional file for the agent's own log as compact JSON (one event per line). Default none.</summary>
    public string? JsonFile { get; set; }
}

/// <summary>
/// The build sandbox (bubblewrap in a user namespace, as an unprivileged build user). Each running build gets its own
/// host uid from <c>FirstUid</c> .. <c>FirstUid + Slots - 1</c> (no /etc/passwd entry needed, like Nix's
/// <c>auto-allocate-uids</c>); inside, the builder is uid 1000 / gid 100 (<c>nixbld</c>), as in Nix's sandbox.
/// </summary>
public sealed class SandboxSection
{
    /// <summary>First host uid (and gid) of the build-user pool; must not be a real user's. Default 872415232 (Nix's auto-allocate-uids start).</summary>
    public long FirstUid { get; set; } = 872415232;

    /// <summary>
    /// Host paths every build sees, as <c>INSIDE=OUTSIDE</c> or just <c>PATH</c> (Nix's <c>sandbox-paths</c>), e.g.
    /// <c>/bin/sh=/bin/busybox</c>. Bound as Nix binds them: writable only where the host's permissions let the
    /// build user write. Default none: a builder sees only its input closure.
    /// </summary>
    public List<string> ExtraPaths { get; set; } = [];

    /// <summary>Most processes (threads included) one build may run at once (RLIMIT_NPROC of its build user). Default 8192.</summary>
    public int MaxProcesses { get; set; } = 8192;

    /// <summary>
    /// Most bytes one build may write (build directory, /tmp and outputs together; also the largest single file);
    /// a build over it is killed with a clear failure. 0 = no limit. Default 0.
    /// </summary>
    public long MaxDiskBytes { get; set; }

    /// <summary>bubblewrap. Default <c>/usr/bin/bwrap</c>.</summary>
    public string Bwrap { get; set; } = "/usr/bin/bwrap";
}
