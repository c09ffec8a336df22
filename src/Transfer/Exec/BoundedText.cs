using System.Text;

namespace BuildFarm.Transfer.Exec;

/// <summary>Drains a stream, keeping only its last <c>limit</c> bytes (stderr of a long command must not grow unbounded).</summary>
internal static class BoundedText
{
    public static async Task<string> DrainAsync(Stream stream, int limit, CancellationToken cancellationToken)
    {
        var kept = new byte[limit];
        var length = 0;
        var truncated = false;
        var buffer = new byte[8192];
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (length + n > limit)
            {
                var drop = length + n - limit;
                if (drop >= length)
                {
                    var take = Math.Min(n, limit);
                    Array.Copy(buffer, n - take, kept, 0, take);
                    length = take;
                }
                else
                {
                    Array.Copy(kept, drop, kept, 0, length - drop);
                    length -= drop;
                    Array.Copy(buffer, 0, kept, length, n);
                    length += n;
                }

                truncated = true;
            }
            else
            {
                Array.Copy(buffer, 0, kept, length, n);
                length += n;
            }
        }

        var text = Encoding.UTF8.GetString(kept, 0, length);
        return truncated ? "[...]" + text : text;
    }
}
