using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// SQL over <c>pending_results</c>: successes whose outputs are still being imported into the origin store. The row
/// is written before the event is acked and deleted in the transaction that commits the verdict, so a result is
/// carried by the broker or by this table at every moment, never by neither.
/// </summary>
internal static class PendingResultTable
{
    /// <summary>True when the row is new; a redelivered event finds its row already there.</summary>
    public static async Task<bool> InsertAsync(DbSession s, BuildSucceeded e, DateTimeOffset now) => await s.ExecuteAsync(
        "INSERT OR IGNORE INTO pending_results (build_id, attempt, worker, event, received_at) VALUES ($b, $a, $w, $e, $now)",
        ("$b", e.BuildId.ToString()), ("$a", e.Attempt), ("$w", e.WorkerName), ("$e", JsonSerializer.Serialize(e, MessagingJson.Options)),
        ("$now", BuildTable.Ms(now))) > 0;

    public static Task DeleteAsync(DbSession s, BuildSucceeded e) => s.ExecuteAsync(
        "DELETE FROM pending_results WHERE build_id = $b AND attempt = $a AND worker = $w",
        ("$b", e.BuildId.ToString()), ("$a", e.Attempt), ("$w", e.WorkerName));

    /// <summary>Every pending result, oldest first (resumed at start-up).</summary>
    public static async Task<IReadOnlyList<BuildSucceeded>> ListAsync(DbSession s) => await s.QueryAsync(
        "SELECT event FROM pending_results ORDER BY received_at",
        r => JsonSerializer.Deserialize<BuildSucceeded>(r.GetString(0), MessagingJson.Options)!);

    /// <summary>The SQL condition that leaves out builds whose result waits for its import (their worker is done with them).</summary>
    public const string NotPending = "id NOT IN (SELECT build_id FROM pending_results)";
}
