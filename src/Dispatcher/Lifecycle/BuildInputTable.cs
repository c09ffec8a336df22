using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// SQL over <c>build_inputs</c>: the origin and input closure fixed when a build was submitted, so every attempt
/// (and a republish after a restart) carries the same ones. A build without a row has no origin.
/// </summary>
internal static class BuildInputTable
{
    public static Task InsertAsync(DbSession s, Guid build, OriginEndpoint origin, IReadOnlyList<InputPath> closure) => s.ExecuteAsync(
        "INSERT INTO build_inputs (build_id, origin, closure) VALUES ($b, $o, $c)",
        ("$b", build.ToString()), ("$o", JsonSerializer.Serialize(origin, MessagingJson.Options)),
        ("$c", JsonSerializer.Serialize(closure, MessagingJson.Options)));

    public static async Task<(OriginEndpoint? Origin, IReadOnlyList<InputPath> Closure)> GetAsync(DbSession s, Guid build)
    {
        var rows = await s.QueryAsync(
            "SELECT origin, closure FROM build_inputs WHERE build_id = $b",
            r => (JsonSerializer.Deserialize<OriginEndpoint>(r.GetString(0), MessagingJson.Options),
                (IReadOnlyList<InputPath>)JsonSerializer.Deserialize<InputPath[]>(r.GetString(1), MessagingJson.Options)!),
            ("$b", build.ToString()));
        return rows.Count == 0 ? (null, []) : rows[0];
    }

    public static async Task<bool> HasOriginAsync(DbSession s, Guid build) =>
        await s.ScalarAsync("SELECT 1 FROM build_inputs WHERE build_id = $b", ("$b", build.ToString())) is not null;

    /// <summary>What queued and running builds need in the origin store: each one's derivation and input closure.</summary>
    public static async Task<List<string>> LivePathsAsync(DbSession s)
    {
        var rows = await s.QueryAsync(
            "SELECT b.drv_path, i.closure FROM builds b LEFT JOIN build_inputs i ON i.build_id = b.id WHERE b.state IN ('queued', 'running')",
            r => (r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)));
        var paths = new List<string>();
        foreach (var (drv, closure) in rows)
        {
            paths.Add(drv);
            if (closure is not null)
                paths.AddRange(JsonSerializer.Deserialize<InputPath[]>(closure, MessagingJson.Options)!.Select(i => i.Path));
        }

        return paths;
    }
}
