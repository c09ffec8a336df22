using System.Runtime.InteropServices;

namespace BuildFarm.CliHost;

/// <summary>
/// The managed CLI (<c>buildfarm-cli</c>, the .NET apphost of src/Cli) next to this executable, run with
/// <c>execv</c>: same process id, same argv (argv[0] included: the apphost finds itself through /proc/self/exe),
/// environment and file descriptors, so for a caller, a systemd unit or a shell's job control it is the same process
/// as before. Nothing is written to stdout or stderr before the exec. Most command lines never get here (front-main.c
/// execs the same file before the runtime starts); those that do are lines naming <c>store</c> and <c>hash</c> that
/// the front does not serve (a bad flag, <c>--help</c>). One thing of the NativeAOT runtime would survive the exec: it
/// ignores SIGPIPE (SIG_IGN is inherited, handlers are not), and the managed CLI's children (ssh, nix-store) would
/// then start with SIGPIPE ignored; it is put back to the default first. (A caller that had itself started
/// <c>buildfarm</c> with SIGPIPE ignored is the one case this changes: the runtime hides the original.)
/// </summary>
internal static class ManagedCli
{
    public const string FileName = "buildfarm-cli";

    /// <summary>Does not return unless the exec failed; then says why on stderr and returns 127 (as a shell does).</summary>
    public static int Exec(string[] args)
    {
        var path = Path.Combine(AppContext.BaseDirectory, FileName);
        var argv = new nint[args.Length + 2];
        argv[0] = Marshal.StringToCoTaskMemUTF8(Environment.GetCommandLineArgs()[0]);
        for (var i = 0; i < args.Length; i++)
            argv[i + 1] = Marshal.StringToCoTaskMemUTF8(args[i]);
        var pathZ = Marshal.StringToCoTaskMemUTF8(path);
        _ = Signal(SigPipe, SigDfl);
        _ = Execv(pathZ, argv); // -1: the exec failed (it returns only then)
        var error = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
        Console.Error.WriteLine($"buildfarm: cannot run the managed CLI {path}: {error} (./farm build publishes it next to buildfarm)");
        return 127;
    }

    private const int SigPipe = 13; // the same number on every Linux architecture .NET runs on
    private const nint SigDfl = 0;

    [DllImport("libc", EntryPoint = "signal", SetLastError = false)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint Signal(int signal, nint handler);

    [DllImport("libc", EntryPoint = "execv", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Execv(nint path, nint[] argv);
}
