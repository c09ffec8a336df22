using BuildFarm.Testing;
using Launcher = BuildFarm.Worker.Sandbox.SandboxLauncher;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// The static launcher on its own (the sandbox tests run it under bubblewrap, and the shell chain it replaced beside
/// it): what the process it execs gets, and that each step it cannot take stops it with the step named.
/// </summary>
public sealed class SandboxLauncherProgramTests : IDisposable
{
    private const string Uid = "872415999";
    private const string Gid = "872415998";
    private readonly TempDirectory _dir = new("launcher");
    private readonly string _launcher;

    public SandboxLauncherProgramTests()
    {
        _launcher = _dir.Combine("launcher");
        Launcher.Write(_launcher);
        File.WriteAllText(_dir.Combine("args"), "args");
        File.WriteAllText(_dir.Combine("seccomp"), "seccomp");
        File.WriteAllText(_dir.Combine("exec"), "exec");
        // Three words, the last not UTF-8: the launcher passes bytes, not strings.
        File.WriteAllBytes(_dir.Combine("command"), [.. "zero\0a b\0"u8, 0xFF, 0xFE, 0]);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Run_AsRoot_ExecsAsTheUserWithItsLimitsNoPrivilegeAndTheFilesOnTheirDescriptors()
    {
        const string Script = """
            echo "ids $(id -u) $(id -g) [$(id -G)]"
            grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Sig(Ign|Blk)|Groups):' /proc/self/status
            grep -E '^Max (processes|core file size|file size)' /proc/self/limits
            for fd in 0 3 4 5; do echo "fd $fd $(readlink /proc/self/fd/$fd)"; done
            [ -e /proc/self/fd/6 ] && echo "fd 6 open"
            echo "args $# $0"
            for a in "$@"; do printf '%s' "$a" | od -An -tx1; done
            echo to-stderr >&2
            """;

        var run = await RunAsync([Uid, Gid, "77", "12345", .. Files("args", "seccomp", "exec", "command"), "", "/bin/busybox", "sh", "-c", Script]);

        Assert.Equal(0, run.ExitCode);
        var log = run.Stdout;
        Assert.Contains($"ids {Uid} {Gid} [{Gid}]\n", log, StringComparison.Ordinal);
        foreach (var set in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "SigIgn", "SigBlk" })
            Assert.Matches($@"(?m)^{set}:\s+0000000000000000$", log);
        Assert.Matches(@"(?m)^NoNewPrivs:\s+1$", log);
        Assert.Matches(@"(?m)^Groups:\s*$", log);
        Assert.Matches(@"(?m)^Max processes\s+77\s+77\s", log);
        Assert.Matches(@"(?m)^Max core file size\s+0\s+0\s", log);
        Assert.Matches(@"(?m)^Max file size\s+12345\s+12345\s", log);
        Assert.Contains("fd 0 /dev/null\n", log, StringComparison.Ordinal);
        Assert.Contains($"fd 3 {_dir.Combine("args")}\nfd 4 {_dir.Combine("seccomp")}\nfd 5 {_dir.Combine("exec")}\n", log, StringComparison.Ordinal);
        Assert.DoesNotContain("fd 6 open", log, StringComparison.Ordinal);
        // sh -c SCRIPT zero "a b" <FF FE>: $0 is the first word.
        Assert.Contains("args 2 zero\n 61 20 62\n ff fe\n", log, StringComparison.Ordinal);
        Assert.EndsWith("to-stderr\n", log, StringComparison.Ordinal);
        Assert.Equal("", run.Stderr);
    }

    [Fact]
    public async Task Run_FsizeZero_LeavesTheFileSizeUnlimited()
    {
        var run = await RunAsync([Uid, Gid, "77", "0", .. Files("args", "seccomp", "exec", "command"), "", "/bin/busybox", "sh", "-c", "grep '^Max file size' /proc/self/limits"]);

        Assert.Equal(0, run.ExitCode);
        Assert.Matches(@"^Max file size\s+unlimited\s+unlimited\s", run.Stdout);
    }

    [Theory]
    [InlineData("missing", "", "cannot open a file of the sandbox (errno 2)")]
    [InlineData("seccomp", "/dev/null", "cannot join the build's mount namespace (errno 22)")]
    public async Task Run_SetupStepFails_NamesTheStepAndExits125WithoutRunningTheProgram(string seccomp, string mountNamespace, string step)
    {
        var marker = _dir.Combine("ran");

        var run = await RunAsync([Uid, Gid, "77", "0", .. Files("args", seccomp, "exec", "command"), mountNamespace, "/bin/busybox", "touch", marker]);

        Assert.Equal(125, run.ExitCode);
        Assert.Equal($"buildfarm-sandbox: {step}\n", run.Stdout);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task Run_NotRoot_CannotBecomeTheBuildUserAndExits125()
    {
        File.SetUnixFileMode(_launcher, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        foreach (var f in new[] { "args", "seccomp", "exec", "command" })
            File.SetUnixFileMode(_dir.Combine(f), UnixFileMode.UserRead | UnixFileMode.OtherRead);
        File.SetUnixFileMode(_dir.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute);
        var marker = _dir.Combine("ran");

        // An unprivileged caller cannot empty the bounding set (EPERM), the first step that needs root.
        var run = await ProcessRunner.RunAsync("/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", _launcher, Uid, Gid, "77", "0", .. Files("args", "seccomp", "exec", "command"), "", "/bin/busybox", "touch", marker]);

        Assert.Equal(125, run.ExitCode);
        Assert.Equal("buildfarm-sandbox: cannot become the build user (errno 1)\n", run.Stdout);
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("x")]
    [InlineData("")]
    [InlineData("-1")]
    public async Task Run_UidNotANumber_PrintsTheUsageAndExits125(string uid)
    {
        var run = await RunAsync([uid, Gid, "77", "0", .. Files("args", "seccomp", "exec", "command"), "", "/bin/true"]);

        Assert.Equal(125, run.ExitCode);
        Assert.StartsWith("buildfarm-sandbox: usage: UID GID", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_NoProgram_PrintsTheUsageAndExits125()
    {
        var run = await RunAsync([Uid, Gid, "77", "0", .. Files("args", "seccomp", "exec", "command"), ""]);

        Assert.Equal(125, run.ExitCode);
        Assert.StartsWith("buildfarm-sandbox: usage:", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ProgramMissing_SaysItCannotExecuteBubblewrap()
    {
        var run = await RunAsync([Uid, Gid, "77", "0", .. Files("args", "seccomp", "exec", "command"), "", _dir.Combine("no-bwrap")]);

        Assert.Equal(125, run.ExitCode);
        Assert.Equal("buildfarm-sandbox: cannot execute bubblewrap (errno 2)\n", run.Stdout);
    }

    [Fact]
    public void Arguments_NegativeNumber_Refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Launcher.Arguments(-1, 1, 1, 0, "a", "s", "e", "c", ""));

    private string[] Files(params string[] names) => [.. names.Select(n => _dir.Combine(n))];

    private Task<ProcessResult> RunAsync(IEnumerable<string> args) =>
        ProcessRunner.RunAsync(_launcher, args, environment: null, timeout: TimeSpan.FromSeconds(30));
}
