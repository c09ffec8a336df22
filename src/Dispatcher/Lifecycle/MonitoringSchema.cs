namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Tables the monitoring side keeps beside the lifecycle's (<see cref="AttemptPhaseTable"/>, <see cref="WorkerClockTable"/>, <see cref="AttemptTransferTable"/>), created
/// and migrated with them when the database opens. The state machine never reads them: losing a row loses a chart point, never a build.
/// </summary>
internal static class MonitoringSchema
{
    /// <summary>The monitoring part of schema version 1 (see <see cref="LifecycleSchema.Migrations"/>).</summary>
    public const string Version1 = """
        CREATE TABLE IF NOT EXISTS attempt_phases (
            build_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            worker TEXT NOT NULL,
            input_fetch_ms INTEGER NOT NULL,
            build_ms INTEGER NOT NULL,
            upload_ms INTEGER NOT NULL,
            accept_ms INTEGER NOT NULL,
            PRIMARY KEY(build_id, attempt, worker)
        );
        CREATE TABLE IF NOT EXISTS worker_clock (
            name TEXT PRIMARY KEY,
            sent_at INTEGER NOT NULL,
            received_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS attempt_transfer (
            build_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            worker TEXT NOT NULL,
            input_bytes INTEGER NOT NULL,
            PRIMARY KEY(build_id, attempt, worker)
        );
        """;
}
