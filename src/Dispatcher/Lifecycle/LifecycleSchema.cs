using BuildFarm.Store.Schema;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// The dispatcher's durable truth. Timestamps are Unix milliseconds (UTC) from the injected TimeProvider.
/// A build row is inserted before its request is published (<c>published = 0</c>), so a crash between the two is
/// repaired by the start-up sweep, which republishes the same attempt. The schema is versioned
/// (<see cref="Migrations"/>, <c>PRAGMA user_version</c>); the monitoring tables are part of it (<see cref="MonitoringSchema"/>).
/// </summary>
internal static class LifecycleSchema
{
    /// <summary>
    /// Per-connection settings, run at every open, outside any migration. <c>temp_store = MEMORY</c>: SQLite's
    /// transient tables and statement journals otherwise went to a file in /var/tmp, created and unlinked about once
    /// per build (bench/scale, docs/PERFORMANCE.md § Scale).
    /// </summary>
    public const string Pragmas = """
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = NORMAL;
        PRAGMA foreign_keys = ON;
        PRAGMA temp_store = MEMORY;
        PRAGMA wal_autocheckpoint = 8000;
        PRAGMA cache_size = -32768;
        """;

    /// <summary>
    /// The database's steps, oldest first; a new schema is a new step at the end, never an edit of a released one.
    /// Version 1 is the schema of every database made before versions were recorded. Such a database (version 0)
    /// already has most of it, so the step only creates what is missing, and adds <c>graphs.wait_for_capacity</c> to
    /// one made before that column existed (its graphs did not wait for capacity: 0).
    /// </summary>
    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(1, "builds, attempts, logs, outputs, inputs, graphs, workers and the monitoring tables", async (connection, transaction, cancellationToken) =>
        {
            await SchemaMigrations.ExecuteAsync(connection, transaction, Version1 + MonitoringSchema.Version1, cancellationToken);
            await SchemaMigrations.AddColumnIfMissingAsync(connection, transaction, "graphs", "wait_for_capacity", "INTEGER NOT NULL DEFAULT 0", cancellationToken);
        }),
        new(2, "trusted builds and graphs; how each attempt ran and how each worker runs builders (sandboxed or not)", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, Version2, cancellationToken)),
        new(3, "successes whose outputs are being imported (PendingResultTable)", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, PendingResultsVersion, cancellationToken)),
        new(4, "who waits for each build (work done once: a request joins the same derivation in flight); builds answered from the origin store", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, WaitersVersion, cancellationToken)),
        new(5, "the counters of /metrics, kept by triggers (MetricCounterTable)", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, MetricCounterTable.SchemaSql, cancellationToken)),
        new(6, "logs keep head and tail (cut bytes, the note's row); indexes for retention by finish time", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, Version4, cancellationToken)),
        new(7, "the key each worker name is bound to (its events must be signed by it)", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, WorkerKeysVersion, cancellationToken)),
        new(8, "indexes for the monitoring reads at 100,000 builds: alerts, saved-build counts, builds of one state, the charts", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, ScaleIndexesVersion, cancellationToken)),
        new(9, "per-minute counts of submissions, starts and finishes per class, kept by triggers (BuildMinuteTable): the charts", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, BuildMinuteTable.SchemaSql, cancellationToken)),
        new(10, "indexes for the builds page's worker filter and name sort, the graphs' node counts and the hook's unconfirmed requests", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, ListIndexesVersion, cancellationToken)),
        new(11, "graph nodes numbered by change, so a follower reads only what changed since its last read", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, NodeChangesVersion, cancellationToken)),
        new(12, "fewer index pages written per build: four indexes of builds dropped or narrowed to the rows their reads need", (connection, transaction, cancellationToken) =>
            SchemaMigrations.ExecuteAsync(connection, transaction, FewerIndexPagesVersion, cancellationToken)),
    ];

    /// <summary>
    /// Every insert and state change of a build writes a page of each index it touches (docs/PERFORMANCE.md § "Fewer
    /// index pages per build"). Dropped, because another index already serves their reads: <c>builds_state</c>
    /// (the lease sweep, a lost worker's builds: the few running rows, through <c>builds_state_submitted</c>; it was
    /// also rewritten at every lease renewal) and <c>builds_open_drv</c> (a submission's search for the same derivation
    /// in flight: <c>builds_drv_path</c>, a derivation has few builds; it cost two pages on random keys per build).
    /// Narrowed to the rows their reads need: <c>builds_finished_stats</c>, whose start and state columns served the
    /// charts before version 9 (they read minute counts now), becomes <c>builds_finished_class</c> (finish time and
    /// class, finished builds only: the charts' first partial minute, retention, the store roots), so a submission and
    /// a claim no longer write it; <c>builds_worker</c> holds claimed builds only (every read of it names a worker), so
    /// a submission no longer writes it. <c>builds_worker</c> is created last: of two indexes SQLite rates equal (no
    /// <c>ANALYZE</c>), the one created last wins, and a worker's rows are fewer than those of any state but running
    /// (which the queries of running builds name explicitly, <c>+worker</c>).
    /// </summary>
    private const string FewerIndexPagesVersion = """
        DROP INDEX IF EXISTS builds_state;
        DROP INDEX IF EXISTS builds_open_drv;
        DROP INDEX IF EXISTS builds_finished_stats;
        DROP INDEX IF EXISTS builds_worker;
        CREATE INDEX IF NOT EXISTS builds_finished_class ON builds(finished_at, system, features) WHERE finished_at IS NOT NULL;
        CREATE INDEX builds_worker ON builds(worker, submitted_at) WHERE worker IS NOT NULL;
        """;

    /// <summary>
    /// <c>graph_nodes.changed</c>: 0 as inserted, then one more than the graph's highest at every change of the node
    /// (<c>GraphTable.SetNodeAsync</c>, under the single writer, so in commit order): <c>GET /api/graphs/{id}?since=N</c>
    /// returns the nodes changed after N and those in flight, not the whole graph at every poll of `buildfarm build`.
    /// </summary>
    private const string NodeChangesVersion = """
        ALTER TABLE graph_nodes ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX graph_nodes_changed ON graph_nodes(graph_id, changed);
        """;

    /// <summary>
    /// Reads that still scanned every build or node at 100,000 builds (docs/PERFORMANCE.md#scale): one worker's builds
    /// newest first, builds by derivation name (the expression of <see cref="BuildSearch"/>'s sort, so the page is read
    /// from the index in order), the name filter's substring scan (over this narrow index, not the rows with their
    /// derivations), a graph's nodes per state with their builds (its counts, without reading its nodes), and the
    /// queued builds the broker has not confirmed (partial: normally empty).
    /// </summary>
    private const string ListIndexesVersion = """
        CREATE INDEX IF NOT EXISTS builds_worker ON builds(worker, submitted_at);
        CREATE INDEX IF NOT EXISTS builds_name ON builds(substr(drv_path, length(store_dir) + 35), submitted_at);
        CREATE INDEX IF NOT EXISTS builds_drv_path ON builds(drv_path);
        CREATE INDEX IF NOT EXISTS graph_nodes_state ON graph_nodes(graph_id, state, build_id);
        CREATE INDEX IF NOT EXISTS builds_unconfirmed ON builds(submitted_at) WHERE state = 'queued' AND published = 0;
        """;

    private const string PendingResultsVersion = """
        CREATE TABLE pending_results (
            build_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            worker TEXT NOT NULL,
            event TEXT NOT NULL,                -- the BuildSucceeded event (JSON)
            received_at INTEGER NOT NULL,
            PRIMARY KEY(build_id, attempt, worker)
        );
        """;

    private const string Version1 = """
        CREATE TABLE IF NOT EXISTS builds (
            id TEXT PRIMARY KEY,
            drv_path TEXT NOT NULL,
            drv_text TEXT NOT NULL,
            store_dir TEXT NOT NULL,
            system TEXT NOT NULL,
            features TEXT NOT NULL,             -- space separated, sorted
            wanted_outputs TEXT NOT NULL,       -- space separated
            state TEXT NOT NULL,                -- queued | running | succeeded | failed | cancelled
            attempt INTEGER NOT NULL,
            published INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            lease_expires_at INTEGER,
            priority INTEGER NOT NULL DEFAULT 0,
            timeout_ms INTEGER NOT NULL DEFAULT 0,
            max_silent_ms INTEGER NOT NULL DEFAULT 0,
            wait_for_capacity INTEGER NOT NULL DEFAULT 0,
            failure_kind TEXT,
            failure_reason TEXT,
            exit_code INTEGER,
            submitted_at INTEGER NOT NULL,
            published_at INTEGER,
            started_at INTEGER,
            finished_at INTEGER,
            log_bytes INTEGER NOT NULL DEFAULT 0,
            log_truncated INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS builds_state ON builds(state, lease_expires_at);
        CREATE INDEX IF NOT EXISTS builds_submitted ON builds(submitted_at);
        CREATE TABLE IF NOT EXISTS attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            build_id TEXT NOT NULL REFERENCES builds(id),
            attempt INTEGER NOT NULL,
            worker TEXT NOT NULL,
            started_at INTEGER,
            finished_at INTEGER,
            outcome TEXT NOT NULL,              -- running | succeeded | BuildFailure | Timeout | Infrastructure | Rejected | lost | cancelled | ignored
            reason TEXT,
            exit_code INTEGER
        );
        CREATE INDEX IF NOT EXISTS attempts_build ON attempts(build_id, attempt);
        CREATE TABLE IF NOT EXISTS logs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            build_id TEXT NOT NULL REFERENCES builds(id),
            attempt INTEGER NOT NULL,
            worker TEXT NOT NULL,
            worker_seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            UNIQUE(build_id, attempt, worker, worker_seq)
        );
        CREATE TABLE IF NOT EXISTS outputs (
            build_id TEXT NOT NULL REFERENCES builds(id),
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            nar_hash TEXT NOT NULL,
            nar_size INTEGER NOT NULL,
            refs TEXT NOT NULL,                 -- JSON array
            signatures TEXT NOT NULL,           -- JSON array
            PRIMARY KEY(build_id, name)
        );
        CREATE TABLE IF NOT EXISTS build_inputs (
            build_id TEXT PRIMARY KEY REFERENCES builds(id),
            origin TEXT NOT NULL,               -- JSON OriginEndpoint
            closure TEXT NOT NULL               -- JSON array of InputPath
        );
        CREATE TABLE IF NOT EXISTS graphs (
            id TEXT PRIMARY KEY,
            targets TEXT NOT NULL,              -- JSON array of .drv paths
            keep_going INTEGER NOT NULL,
            priority INTEGER NOT NULL,
            timeout_ms INTEGER NOT NULL,
            max_silent_ms INTEGER NOT NULL,
            wait_for_capacity INTEGER NOT NULL,
            state TEXT NOT NULL,                -- running | succeeded | failed | cancelled
            created_at INTEGER NOT NULL,
            finished_at INTEGER
        );
        CREATE INDEX IF NOT EXISTS graphs_state ON graphs(state);
        CREATE TABLE IF NOT EXISTS graph_nodes (
            graph_id TEXT NOT NULL REFERENCES graphs(id),
            drv_path TEXT NOT NULL,
            position INTEGER NOT NULL,
            deps TEXT NOT NULL,                 -- JSON array of .drv paths (nodes of the same graph)
            wanted_outputs TEXT NOT NULL,       -- JSON array
            output_paths TEXT NOT NULL,         -- JSON object: output name -> store path
            is_target INTEGER NOT NULL,
            state TEXT NOT NULL,                -- skipped | waiting | submitted | succeeded | failed | dependency-failed | stopped
            build_id TEXT,                      -- set before the build is submitted (same id), so a restart resubmits it once
            reason TEXT,
            PRIMARY KEY(graph_id, drv_path)
        );
        CREATE TABLE IF NOT EXISTS workers (
            name TEXT PRIMARY KEY,
            capabilities TEXT NOT NULL,         -- JSON WorkerCapabilities
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            state TEXT NOT NULL,                -- online | offline
            version TEXT NOT NULL,
            load REAL NOT NULL,
            free_disk INTEGER NOT NULL,
            draining INTEGER NOT NULL,
            paused INTEGER NOT NULL,
            note TEXT,
            builds_done INTEGER NOT NULL DEFAULT 0,
            builds_failed INTEGER NOT NULL DEFAULT 0
        );
        """;

    /// <summary>
    /// Null isolation is unknown: rows written before version 2, or by workers that do not report it. Builds and
    /// graphs made before it were not trusted (0).
    /// </summary>
    /// <summary>Builds cut before version 4 were cut at the end with a note: nothing counted (0), no note row (null).</summary>
    private const string Version4 = """
        ALTER TABLE builds ADD COLUMN log_cut_bytes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE builds ADD COLUMN log_note_seq INTEGER;
        CREATE INDEX builds_finished ON builds(finished_at);
        CREATE INDEX graphs_finished ON graphs(finished_at);
        """;

    private const string Version2 = """
        ALTER TABLE builds ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE builds ADD COLUMN isolation TEXT;           -- Sandboxed | Unsandboxed: how the current attempt runs (ran)
        ALTER TABLE attempts ADD COLUMN isolation TEXT;         -- as the claiming worker's BuildStarted said
        ALTER TABLE graphs ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE workers ADD COLUMN isolation TEXT;          -- Sandboxed | Unsandboxed | None, from the heartbeat
        ALTER TABLE workers ADD COLUMN isolation_reason TEXT;
        """;

    /// <summary>
    /// A build made before version 4 has no waiter row: cancelling it cancels it, as before. <c>reused</c>: the
    /// build never ran, its outputs were valid in the origin store when it was asked for.
    /// </summary>
    private const string WaitersVersion = """
        CREATE TABLE build_waiters (
            build_id TEXT NOT NULL REFERENCES builds(id),
            waiter TEXT NOT NULL,               -- submit:<id> | hook:<id> | graph:<graph id>
            joined INTEGER NOT NULL,            -- 1: it joined the build in flight (one build saved)
            left_at INTEGER,                    -- when it stopped waiting (kept, so the saved count never shrinks)
            PRIMARY KEY(build_id, waiter)
        );
        CREATE INDEX builds_open_drv ON builds(drv_path) WHERE state IN ('queued', 'running');
        ALTER TABLE builds ADD COLUMN reused INTEGER NOT NULL DEFAULT 0;
        """;

    /// <summary>
    /// A worker name is bound to the first trusted key that signed an event for it; no other trusted key may speak for
    /// that name while the bound key stays trusted (<see cref="WorkerKeyTable"/>).
    /// </summary>
    private const string WorkerKeysVersion = """
        CREATE TABLE worker_keys (
            name TEXT PRIMARY KEY,              -- the worker name
            public_key TEXT NOT NULL,           -- name:base64 of the bound key
            bound_at INTEGER NOT NULL
        );
        """;

    /// <summary>
    /// Reads that scanned or sorted every attempt or build (docs/PERFORMANCE.md#scale): a worker's latest attempts (the
    /// worker-failing alert), the two saved-build counts of /metrics (partial indexes: their size is the count), the
    /// newest builds of one state (the UI's counts and queue), the open builds per class (partial: the backlog's
    /// size) and the charts of /api/stats, which read only the indexes below (covering: no row lookups). The two older
    /// time indexes are prefixes of the new ones.
    /// </summary>
    private const string ScaleIndexesVersion = """
        CREATE INDEX IF NOT EXISTS attempts_worker ON attempts(worker, id);
        CREATE INDEX IF NOT EXISTS build_waiters_joined ON build_waiters(build_id) WHERE joined = 1;
        CREATE INDEX IF NOT EXISTS builds_reused ON builds(id) WHERE reused = 1;
        CREATE INDEX IF NOT EXISTS builds_state_submitted ON builds(state, submitted_at);
        CREATE INDEX IF NOT EXISTS builds_state_open ON builds(state, system, features, trusted) WHERE state IN ('queued', 'running');
        CREATE INDEX IF NOT EXISTS builds_finished_stats ON builds(finished_at, state, submitted_at, started_at, system, features);
        CREATE INDEX IF NOT EXISTS builds_submitted_class ON builds(submitted_at, system, features);
        DROP INDEX IF EXISTS builds_finished;
        DROP INDEX IF EXISTS builds_submitted;
        """;
}
