using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Messaging.Requests;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>SQL over <c>outputs</c>: imported once, from the result that finished the build.</summary>
internal static class OutputTable
{
    public static async Task InsertAsync(DbSession s, Guid build, IEnumerable<BuiltOutput> outputs)
    {
        foreach (var o in outputs)
        {
            await s.ExecuteAsync(
                "INSERT INTO outputs (build_id, name, path, nar_hash, nar_size, refs, signatures) VALUES ($b, $n, $p, $h, $z, $r, $g)",
                ("$b", build.ToString()), ("$n", o.Name), ("$p", o.Path), ("$h", o.NarHash), ("$z", o.NarSize),
                ("$r", JsonSerializer.Serialize(o.References, MessagingJson.Options)), ("$g", JsonSerializer.Serialize(o.Signatures, MessagingJson.Options)));
        }
    }

    public static Task<List<OutputRecord>> ListAsync(DbSession s, Guid build) => s.QueryAsync(
        "SELECT name, path, nar_hash, nar_size, refs, signatures FROM outputs WHERE build_id = $b ORDER BY name",
        r => new OutputRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3),
            JsonSerializer.Deserialize<string[]>(r.GetString(4), MessagingJson.Options)!, JsonSerializer.Deserialize<string[]>(r.GetString(5), MessagingJson.Options)!),
        ("$b", build.ToString()));
}
