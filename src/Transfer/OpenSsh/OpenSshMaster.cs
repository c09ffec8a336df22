using System.Diagnostics;
using BuildFarm.Transfer.Connections;
using BuildFarm.Transfer.Exec;
using Serilog;

namespace BuildFarm.Transfer.OpenSsh;

/// <summary>
/// One pooled OpenSSH connection: an <c>ssh -M -N</c> master (ControlMaster) whose control socket, in the opener's
/// 0700 directory, carries each command as a multiplexed session. A command is a short-lived <c>ssh</c> that hands
/// its stdin, stdout and stderr to the master and waits for the exit status: no handshake and no data copy of its own
/// (bench/pull README: ~90 ms and no measurable CPU per command on loopback, against ~280 ms and 65 ms CPU for a new
/// connection).
/// </summary>
internal sealed class OpenSshMaster : PooledConnection
{
    // The master runs under a shell that kills it when our end of its stdin closes: if the worker dies, its
    // connections go with it instead of staying logged in to the origin. (PR_SET_PDEATHSIG would fire when the .NET
    // thread that started it retires, not when the process dies.)
    private const string Watchdog =
        "exec 3<&0 </dev/null; \"$@\" & ssh=$!; { read -r _ <&3; kill \"$ssh\"; } 2>/dev/null & watch=$!; "
        + "wait \"$ssh\"; status=$?; kill \"$watch\" 2>/dev/null; exit \"$status\"";

    private readonly OpenSshOpener _opener;
    private readonly Process _process;
    private readonly string _log;
    private int _disposed;

    private OpenSshMaster(int id, OpenSshOpener opener, Process process, string knownHosts, string socket, string log)
        : base(id)
    {
        _opener = opener;
        _process = process;
        KnownHosts = knownHosts;
        Socket = socket;
        _log = log;
    }

    public string KnownHosts { get; }

    public string Socket { get; }

    public OpenSshOpener Opener => _opener;

    protected override bool IsAlive => !_process.HasExited;

    /// <summary>Starts the master and waits until its control socket exists, which ssh creates only after login.</summary>
    public static async Task<OpenSshMaster> StartAsync(OpenSshOpener opener, int id, string knownHosts, string hostKeyAlgorithms, CancellationToken cancellationToken)
    {
        var settings = opener.Settings;
        var socket = Path.Combine(opener.StateDirectory, $"m{id}.sock");
        var log = opener.NextLogPath();
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true };
        foreach (var arg in (string[])["-c", Watchdog, "sh", "ssh", "-M", "-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
            psi.ArgumentList.Add(arg);
        foreach (var arg in opener.CommonArguments(knownHosts, socket, log).Concat(opener.MasterArguments(hostKeyAlgorithms)))
            psi.ArgumentList.Add(arg);
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(settings.Host);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /bin/sh for ssh");
        var master = new OpenSshMaster(id, opener, process, knownHosts, socket, log);
        try
        {
            var deadline = Stopwatch.StartNew();
            var limit = settings.ConnectTimeout * 2 + TimeSpan.FromSeconds(5); // ConnectTimeout bounds the TCP connect; this, the login too
            while (!File.Exists(socket))
            {
                if (process.HasExited)
                    throw SshLog.Failure(settings, SshLog.Read(log));
                if (deadline.Elapsed > limit)
                    throw new Errors.OpenSshFailedException(settings.Name, $"no login within {limit.TotalSeconds:0} s", transient: true);
                await Task.Delay(5, cancellationToken);
            }
        }
        catch
        {
            master.Dispose();
            throw;
        }

        opener.Logger.Information(
            "Connected to origin {Origin} (connection {ConnectionId}, OpenSSH master, host key pinned in {KnownHosts})",
            settings.Name, id, knownHosts);
        return master;
    }

    public override Task<RemoteProcess> StartAsync(string origin, ChannelLease lease, string command, CancellationToken lifetime) =>
        Task.FromResult<RemoteProcess>(OpenSshProcess.Start(origin, lease, this, command, lifetime));

    /// <summary>Waits up to <paramref name="wait"/> for the master to end (a command's ssh may notice first).</summary>
    public async Task<bool> HasEndedWithinAsync(TimeSpan wait)
    {
        try
        {
            await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(wait);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public string ReadLog() => SshLog.Read(_log);

    public override void Dispose()
    {
        // Twice when a stalled upload dropped this connection and the pool then closes: the second is a no-op.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        MarkBroken();
        OpenSshOpener.Kill(_process);
        _process.WaitForExit(TimeSpan.FromSeconds(2)); // reaped now: no zombie, and its CPU counts as ours (bench/pull)
        _process.Dispose();
        foreach (var path in new[] { Socket, KnownHosts, _log })
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // The directory goes with the opener.
            }
        }
    }
}
