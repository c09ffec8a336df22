using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// The generated filter loaded by the real kernel through bubblewrap's <c>--seccomp 3</c>, in a sandbox run as an
/// unprivileged uid (setpriv) the way the worker runs builders. Process cannot pass an extra fd, so a shell opens the
/// filter on fd 3 and execs into setpriv and bwrap. Raw calls busybox has no applet for go through the host's perl
/// (<c>syscall</c>), mounted read-only with /usr. Every refusal is paired with the same call in the same sandbox without
/// the filter, so a pass proves the filter, not some other restriction, refused it.
/// </summary>
public sealed class SeccompFilterBwrapTests : IDisposable
{
    // Runs one raw system call; numbers stay numbers and other words become (writable) string pointers.
    private const string SyscallScript = """
        my @a = map { /^-?\d+$/ ? $_ + 0 : "$_" } @ARGV;
        my $n = shift @a;
        my $r = syscall($n, @a);
        print $r == -1 ? "errno=" . ($! + 0) . " $!\n" : "ok $r\n";
        """;

    private readonly TempDirectory _dir = new("seccomp");
    private readonly string _filter;
    private readonly string _syscallPl;

    public SeccompFilterBwrapTests()
    {
        // bwrap runs as the unprivileged uid and must be able to reach the script it bind-mounts.
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0x1ED);
        _filter = _dir.Combine("filter.bpf");
        File.WriteAllBytes(_filter, SeccompFilter.Build(SeccompFilter.Native, allowI386: false));
        _syscallPl = _dir.Combine("syscall.pl");
        File.WriteAllText(_syscallPl, SyscallScript);
        File.SetUnixFileMode(_syscallPl, (UnixFileMode)0x1A4);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Bwrap_SetUidOrSetGidChmod_OperationNotPermittedWhilePlainChmodWorks()
    {
        const string script = "touch f; chmod u+s f; echo suid=$?; chmod g+s f; echo sgid=$?; chmod 755 f; echo plain=$?; ls -l f";

        var filtered = await SandboxAsync(script, filtered: true);
        var unfiltered = await SandboxAsync(script, filtered: false);

        Assert.Contains("suid=1", filtered.Stdout, StringComparison.Ordinal);
        Assert.Contains("sgid=1", filtered.Stdout, StringComparison.Ordinal);
        Assert.Contains("plain=0", filtered.Stdout, StringComparison.Ordinal);
        Assert.Contains("-rwxr-xr-x", filtered.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, filtered.Stderr.Split("Operation not permitted").Length - 1);
        Assert.Contains("suid=0", unfiltered.Stdout, StringComparison.Ordinal);
        Assert.Contains("sgid=0", unfiltered.Stdout, StringComparison.Ordinal);
    }

    // x86_64 numbers; C# has no octal: 2541 = 04755, 1517 = 02755, 493 = 0755.
    [Theory]
    [InlineData("chmod 04755", "90 f 2541", "errno=1 ", "ok 0")]
    [InlineData("chmod 02755", "90 f 1517", "errno=1 ", "ok 0")]
    [InlineData("chmod 0755", "90 f 493", "ok 0", "ok 0")]
    [InlineData("fchmodat 04755", "268 -100 f 2541", "errno=1 ", "ok 0")]
    [InlineData("fchmodat2 04755", "452 -100 f 2541 0", "errno=1 ", "ok 0")]
    [InlineData("fchmodat2 0755", "452 -100 f 493 0", "ok 0", "ok 0")]
    [InlineData("setxattr", "188 f user.x v 1 0", "errno=95 ", "ok 0")]
    [InlineData("lsetxattr", "189 f user.x v 1 0", "errno=95 ", "ok 0")]
    [InlineData("setxattrat (EINVAL unfiltered: the call exists at 463)", "463 -100 f 0 user.y 0 0", "errno=95 ", "errno=22 ")]
    [InlineData("keyctl GET_KEYRING_ID session", "250 0 -3 0", "errno=1 ", "ok ")]
    [InlineData("add_key", "248 user x x 0 -3", "errno=1 ", "errno=22 ")]
    [InlineData("userfaultfd UFFD_USER_MODE_ONLY", "323 1", "errno=1 ", "ok ")]
    [InlineData("bpf", "321 0 0 0", "errno=1 ", "errno=22 ")]
    [InlineData("ptrace TRACEME stays allowed", "101 0 0 0 0", "ok 0", "ok 0")]
    public async Task Bwrap_RawSyscall_FilterDecidesTheResult(string what, string call, string filteredResult, string unfilteredResult)
    {
        var script = $"touch f; perl /syscall.pl {call}";

        var filtered = await SandboxAsync(script, filtered: true);
        var unfiltered = await SandboxAsync(script, filtered: false);

        Assert.True(filtered.Stdout.StartsWith(filteredResult, StringComparison.Ordinal), $"{what} filtered: {filtered.Stdout}{filtered.Stderr}");
        Assert.True(unfiltered.Stdout.StartsWith(unfilteredResult, StringComparison.Ordinal), $"{what} unfiltered: {unfiltered.Stdout}{unfiltered.Stderr}");
    }

    // Real root with every capability, so only the filter stands between these calls and the kernel. The arguments
    // keep each call harmless should it get through: missing files, a module that does not exist, a bad fd.
    [Theory]
    [InlineData("swapon", "167 /nonexistent 0")]
    [InlineData("swapoff", "168 /nonexistent")]
    [InlineData("acct", "163 /nonexistent")]
    [InlineData("delete_module O_NONBLOCK", "176 bf_no_such_module 2048")]
    [InlineData("finit_module", "313 -1 x 0")]
    [InlineData("bpf", "321 0 0 0")]
    public async Task Bwrap_RootWithEveryCapability_KernelWideCallsEperm(string what, string call)
    {
        var script = $"perl /syscall.pl {call}";

        var filtered = await SeccompBwrap.RunAsync(_filter, script, [(_syscallPl, "/syscall.pl")], asRoot: true);
        var unfiltered = await SeccompBwrap.RunAsync(null, script, [(_syscallPl, "/syscall.pl")], asRoot: true);

        Assert.True(filtered.Stdout.StartsWith("errno=1 ", StringComparison.Ordinal), $"{what} filtered: {filtered.Stdout}{filtered.Stderr}");
        Assert.True(unfiltered.Stdout.StartsWith("errno=", StringComparison.Ordinal), $"{what} unfiltered: {unfiltered.Stdout}{unfiltered.Stderr}");
        Assert.False(unfiltered.Stdout.StartsWith("errno=1 ", StringComparison.Ordinal), $"{what} unfiltered was refused too: {unfiltered.Stdout}");
    }

    [Fact]
    public async Task Bwrap_X32SyscallBit_FunctionNotImplemented()
    {
        var result = await SandboxAsync("perl /syscall.pl 1073741863", filtered: true); // 0x40000000 | getpid

        Assert.StartsWith("errno=38 ", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bwrap_ProcStatus_SeccompFilterMode()
    {
        var result = await SandboxAsync("grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status", filtered: true);

        Assert.Contains("Seccomp:\t2", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("NoNewPrivs:\t1", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("CapEff:\t0000000000000000", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bwrap_OrdinaryCommands_KeepWorking()
    {
        const string script = """
            set -e
            mkdir -p a/b
            echo hello > a/b/c
            ln -s a/b/c link
            ln a/b/c hard
            cp link copy && mv copy moved
            chmod 600 moved && chmod +x hard
            i=0; while [ $i -lt 200 ]; do i=$((i+1)); done
            (sleep 0; echo sub) | cat
            cat link moved; ls a/b; echo "i=$i"; rm -r a; echo done
            """;

        var result = await SandboxAsync(script, filtered: true);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal("sub\nhello\nhello\nc\ni=200\ndone\n", result.Stdout);
    }

    private Task<ProcessResult> SandboxAsync(string script, bool filtered) =>
        SeccompBwrap.RunAsync(filtered ? _filter : null, script, binds: [(_syscallPl, "/syscall.pl")]);
}
