using System.Runtime.InteropServices;
using BuildFarm.Hook;

namespace BuildFarm.HookHost;

/// <summary>
/// <c>buildfarm-hook nix [VERBOSITY]</c> and <c>buildfarm-hook guix [DAEMON-ARGUMENTS…]</c>: the same sessions as
/// <c>buildfarm nix-hook</c> / <c>guix-hook</c>. Nix 2.8 execs its <c>build-hook</c> with argv
/// <c>[basename, verbosity]</c>, so when the program's own name (argv[0]) is <c>nix-hook</c> or ends in
/// <c>-nix-hook</c> (a symlink, e.g. <c>buildfarm-nix-hook</c>) it is the Nix hook with no subcommand; likewise
/// <c>guix-hook</c>. Exit codes: those of the sessions, 2 for a bad command line.
/// </summary>
internal static class Program
{
    private const string Usage = "usage: buildfarm-hook nix [VERBOSITY] | buildfarm-hook guix [SYSTEM MAX-SILENT PRINT-TRACE TIMEOUT] (docs/hook.md)\n";

    public static async Task<int> Main(string[] args)
    {
        var dialect = DialectOf(Path.GetFileName(Environment.GetCommandLineArgs()[0]));
        if (dialect is null)
        {
            dialect = args.Length > 0 ? DialectOf(args[0] + "-hook") : null;
            if (dialect is null)
            {
                await Console.Error.WriteAsync(args is ["--help" or "-h"] ? Usage : $"buildfarm-hook: unknown command '{string.Join(' ', args)}'\n{Usage}");
                return args is ["--help" or "-h"] ? 0 : 2;
            }
        }

        // SIGINT/SIGTERM cancel the session like System.CommandLine does for `buildfarm nix-hook`; the daemon
        // itself kills with SIGKILL, which closes the build's HTTP stream and so cancels the farm's build.
        using var cancel = new CancellationTokenSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            cancel.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        try
        {
            return await HookProcess.RunAsync(dialect.Value, cancel.Token);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return 130;
        }
    }

    private static HookDialect? DialectOf(string name) => name switch
    {
        "nix-hook" => HookDialect.Nix,
        "guix-hook" => HookDialect.Guix,
        _ when name.EndsWith("-nix-hook", StringComparison.Ordinal) => HookDialect.Nix,
        _ when name.EndsWith("-guix-hook", StringComparison.Ordinal) => HookDialect.Guix,
        _ => null,
    };
}
