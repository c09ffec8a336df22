using System.Net;
using System.Net.Sockets;

namespace BuildFarm.Testing;

/// <summary>
/// Free TCP ports on loopback for servers the tests start (RabbitMQ, sshd, the dispatcher's API).
/// Ports come from below the kernel's ephemeral range, so an outgoing connection of another process can never take
/// one between our pick and the server's bind (binding port 0 gives an ephemeral port, which can). Test projects run
/// in parallel processes, so each pick is also claimed with a marker file that the other processes respect.
/// </summary>
public static class FreePort
{
    private const int First = 20000;
    private const int Last = 32000;
    private static readonly string ClaimDir = Path.Combine(Path.GetTempPath(), "buildfarm-test-ports");

    /// <summary>A claim older than this belongs to a finished run and may be taken again.</summary>
    private static readonly TimeSpan ClaimLifetime = TimeSpan.FromHours(2);

    public static int Next()
    {
        Directory.CreateDirectory(ClaimDir);
        for (var tries = 0; tries < 1000; tries++)
        {
            var port = Random.Shared.Next(First, Last + 1);
            if (Claim(port) && CanBind(port))
                return port;
        }

        throw new InvalidOperationException($"no free loopback port in {First}-{Last} after 1000 tries");
    }

    private static bool Claim(int port)
    {
        var marker = Path.Combine(ClaimDir, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            using (new FileStream(marker, FileMode.CreateNew, FileAccess.Write))
                return true;
        }
        catch (IOException) when (File.Exists(marker))
        {
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(marker) < ClaimLifetime)
                return false;
            // A stale claim of an earlier run: take it over. Two processes taking over the same stale port at the same
            // moment is as unlikely as picking the same one of 12,000 ports at once.
            File.SetLastWriteTimeUtc(marker, DateTime.UtcNow);
            return true;
        }
    }

    private static bool CanBind(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
