using BuildFarm.Dispatcher.Origin;

namespace BuildFarm.Dispatcher.Hosting;

/// <summary>The <c>Dispatcher</c> section of <c>buildfarm serve</c>'s config file (the broker is the <c>Broker</c> section).</summary>
public sealed class DispatcherOptions
{
    public const string Section = "Dispatcher";

    /// <summary>Where the HTTP API listens; loopback only unless changed on purpose.</summary>
    public string ListenUrl { get; set; } = "http://127.0.0.1:8080";

    /// <summary>SQLite file of builds, attempts, logs, outputs and workers.</summary>
    public string DatabasePath { get; set; } = "/var/lib/buildfarm/dispatcher.db";

    /// <summary>The dispatcher's Ed25519 secret key (<c>name:base64</c>) that signs build requests.</summary>
    public string SigningKeyFile { get; set; } = "/etc/buildfarm/dispatcher.sec";

    /// <summary>Logical store directory the derivations live in.</summary>
    public string StoreDir { get; set; } = "/nix/store";

    /// <summary>Physical root of the origin store (<c>/</c> = none).</summary>
    public string Root { get; set; } = "/var/lib/buildfarm/origin";

    /// <summary>How often workers report (they list running builds; each report renews leases).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A running attempt not renewed for this long is lost and retried. Default 3 × heartbeat.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often leases are checked and unconfirmed publishes retried.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a quarantine file (returned outputs at the origin) may sit unused before the quarantine sweep deletes
    /// it: a stopped upload's <c>.part</c>, or the archive of an attempt its build no longer runs.
    /// </summary>
    public TimeSpan QuarantineGrace { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Attempts per build before it fails (infrastructure losses only; build failures are final).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// The message contract versions requests may be published at; each request goes out at one of these that its
    /// capable workers announce. Default empty: every version this release speaks. Naming only the older one holds
    /// requests at it while workers are upgraded; a version one above this release's own is only for rehearsing an
    /// upgrade and for tests (such requests are still written in this release's format).
    /// </summary>
    public List<int> ContractVersions { get; set; } = [];

    /// <summary>Stored log per build; beyond it the first half and the newest half are kept, with a note of the bytes cut between.</summary>
    public long MaxLogBytesPerBuild { get; set; } = 10 * 1024 * 1024;

    /// <summary>
    /// Successful builds whose outputs are imported into the origin store at once (verification, restore and
    /// registration run in parallel lanes, off the event queue).
    /// </summary>
    public int ImportConcurrency { get; set; } = 4;

    /// <summary>
    /// Builds the daemon's hook may leave queued per slot of the capable workers before it postpones. Nix wakes a
    /// postponed build only after its <c>build-poll-interval</c> (5 s by default), not when a slot frees, so
    /// postponing as soon as the slots are taken leaves them idle until the next poll. 0 = accept only when a slot is
    /// free (what Nix's own remote builder does).
    /// </summary>
    public int HookBacklogPerSlot { get; set; } = 32;
    /// <summary>How long finished builds, their logs and finished graphs are kept.</summary>
    public RetentionOptions Retention { get; set; } = new();

    /// <summary>The origin store's SSH endpoint for workers; unset = requests carry no origin (inputs assumed on the worker).</summary>
    public OriginOptions Origin { get; set; } = new();

    /// <summary>Public keys (<c>name:base64</c>, one a line) of the workers whose returned outputs are accepted. Required with an origin.</summary>
    public string TrustedWorkerKeysFile { get; set; } = "";

    /// <summary>Compact JSON log file (Serilog); empty = console only.</summary>
    public string LogFile { get; set; } = "";
}
