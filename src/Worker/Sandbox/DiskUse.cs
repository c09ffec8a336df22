namespace BuildFarm.Worker.Sandbox;

/// <summary>How much a build has written, against its limit.</summary>
internal static class DiskUse
{
    /// <summary>The kill message when the trees under <paramref name="roots"/> hold more than <paramref name="limit"/> bytes, else null.</summary>
    public static string? OverLimit(long limit, params string[] roots)
    {
        long total = 0;
        foreach (var root in roots)
        {
            try
            {
                foreach (var entry in TreeWalk.Below(root, ignoreInaccessible: true))
                {
                    if (entry is not FileInfo file || TreeWalk.IsLink(file.Attributes))
                        continue;
                    total += file.Length;
                    if (total > limit)
                        return $"the build used more than its disk limit of {limit} bytes (Sandbox:MaxDiskBytes) in its build directory, /tmp and outputs";
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A file vanished mid-walk: measured again at the next check.
            }
        }

        return null;
    }
}
