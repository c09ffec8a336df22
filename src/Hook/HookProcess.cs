using BuildFarm.Hook.Farm;
using BuildFarm.Hook.Guix;
using BuildFarm.Hook.Nix;
using BuildFarm.Hook.Protocol;
using Microsoft.Win32.SafeHandles;

namespace BuildFarm.Hook;

public enum HookDialect
{
    Nix,
    Guix,
}

/// <summary>
/// A hook process end to end: settings from the environment or <c>/etc/buildfarm/hook.json</c>, the session on
/// stdin / stderr, the builder log on file descriptor 4 (stderr when run by hand without it).
/// </summary>
public static class HookProcess
{
    public static async Task<int> RunAsync(HookDialect dialect, CancellationToken cancellationToken)
    {
        using var stdin = Console.OpenStandardInput();
        using var stderr = Console.OpenStandardError();
        using var log = OpenFd4() ?? Console.OpenStandardError();
        var (settings, error) = HookSettings.Load(Environment.GetEnvironmentVariable);
        using var http = settings is null ? null : HttpHookFarm.CreateHttp(settings);
        IHookFarm farm = settings is null
            ? new UnconfiguredFarm(error!)
            : new HttpHookFarm(http!, settings.Url, dialect == HookDialect.Nix ? new NixStoreValidity() : null);
        var budget = new PostponeBudget(TimeProvider.System, settings?.PostponeLimit ?? HookSettings.DefaultPostponeLimit);
        try
        {
            return dialect == HookDialect.Nix
                ? await new NixHookSession(farm, budget).RunAsync(stdin, stderr, log, cancellationToken)
                : await new GuixHookSession(farm, budget).RunAsync(stdin, stderr, log, cancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            // Before accept the daemon shows stderr; after it, only the log. Say it on both.
            var line = System.Text.Encoding.UTF8.GetBytes($"buildfarm {(dialect == HookDialect.Nix ? "nix-hook" : "guix-hook")}: {e.Message}\n");
            await stderr.WriteAsync(line, CancellationToken.None);
            if (log is FileStream)
                await log.WriteAsync(line, CancellationToken.None);
            return 1;
        }
    }

    /// <summary>The daemon's builder-log pipe, which it puts on fd 4 of its hook; null when fd 4 is not open.</summary>
    private static FileStream? OpenFd4()
    {
        if (!File.Exists("/proc/self/fd/4"))
            return null;
        return new FileStream(new SafeFileHandle(4, ownsHandle: false), FileAccess.Write, 1);
    }
}
