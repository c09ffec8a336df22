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
            : new HttpHookFarm(http!, settings.Url, dialect == HookDialect.Nix ? NixValidity() : null);
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

    private static IStoreValidity NixValidity() =>
        NixDatabaseValidity.DefaultDatabase(Environment.GetEnvironmentVariable) is { } database
            ? new NixDatabaseValidity(database, new NixStoreValidity())
            : new NixStoreValidity();

    /// <summary>
    /// The daemon's builder-log pipe, which it puts on fd 4 of its hook; null when fd 4 is not open or is not
    /// inherited. Run by hand, fd 4 may be one of the .NET runtime's own descriptors (the NativeAOT runtime's signal
    /// pipe: writing to it makes the runtime kill itself with the bytes as signal numbers); those are close-on-exec,
    /// an fd the daemon passed through exec cannot be.
    /// </summary>
    private static FileStream? OpenFd4()
    {
        if (!File.Exists("/proc/self/fd/4") || !Inherited(4))
            return null;
        return new FileStream(new SafeFileHandle(4, ownsHandle: false), FileAccess.Write, 1);
    }

    private static bool Inherited(int fd)
    {
        const int CloseOnExec = 0x80000; // O_CLOEXEC, 02000000 octal in /proc/self/fdinfo's "flags:"
        try
        {
            foreach (var line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
            {
                if (line.StartsWith("flags:", StringComparison.Ordinal))
                    return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & CloseOnExec) == 0;
            }
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
        }

        return false;
    }
}
