using BuildFarm.Testing;
using BuildFarm.Worker.Sandbox;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// i386 calls on the real kernel: a 64-bit helper, compiled here from the source below, makes them with
/// <c>int $0x80</c>, which the kernel treats as the i386 ABI (seccomp sees AUDIT_ARCH_I386 and i386 numbers). This is
/// what a 32-bit builder on an i686-linux worker does, without needing 32-bit libraries on the test machine.
/// </summary>
/// <remarks>
/// Some kernels are built or booted without IA32 emulation (this project's CI machines since 2026-12-05: a
/// Firecracker 6.18 kernel). There <c>int $0x80</c> faults with SIGSEGV before any system call is made, so no i386
/// call can get past the x86_64 filter at all, and the tests assert that instead: every such call, filtered or not,
/// ends the helper with SIGSEGV and no result. The filter's i386 numbers themselves are checked on every machine by
/// <see cref="SeccompFilterTests"/> (its BPF interpreter).
/// </remarks>
public sealed class SeccompFilterI386Tests : IDisposable
{
    // argv: number, then up to five arguments: P = pointer to "f", N = pointer to "user.x", else an integer.
    // Built -no-pie so both strings sit below 4 GiB, where a 32-bit pointer can reach them.
    private const string HelperSource = """
        #include <stdio.h>
        #include <stdlib.h>
        static char path[] = "f";
        static char name[] = "user.x";
        int main(int argc, char **argv) {
            long a[6] = {0}, r;
            for (int i = 1; i < argc && i < 7; i++)
                a[i - 1] = argv[i][0] == 'P' ? (long)(unsigned long)path
                         : argv[i][0] == 'N' ? (long)(unsigned long)name : strtol(argv[i], 0, 0);
            __asm__ volatile ("int $0x80" : "=a"(r) : "a"(a[0]), "b"(a[1]), "c"(a[2]), "d"(a[3]), "S"(a[4]), "D"(a[5]) : "memory");
            printf("%ld\n", r);
            return 0;
        }
        """;

    private readonly TempDirectory _dir = new("seccomp-i386");

    public void Dispose() => _dir.Dispose();

    // i386 numbers (syscall_32.tbl); C# has no octal: 0x9ed = 04755, 0x1ed = 0755. Results are -errno.
    [Theory]
    [InlineData("getpid", "20", "!-", "!-")]
    [InlineData("chmod 04755", "15 P 0x9ed", "-1", "0")]
    [InlineData("chmod 0755", "15 P 0x1ed", "0", "0")]
    [InlineData("fchmodat 04755", "306 -100 P 0x9ed", "-1", "0")]
    [InlineData("fchmodat2 04755", "452 -100 P 0x9ed 0", "-1", "0")]
    [InlineData("setxattr", "226 P N P 1 0", "-95", "0")]
    [InlineData("setxattrat (EINVAL unfiltered: the call exists at 463)", "463 -100 P 0 N 0", "-95", "-22")]
    [InlineData("keyctl GET_KEYRING_ID session", "288 0 -3 0", "-1", "!-")]
    [InlineData("userfaultfd UFFD_USER_MODE_ONLY", "374 1", "-1", "!-")]
    [InlineData("mmap, x86_64's chmod number", "90 0 0 0", "-14", "-14")]
    public async Task Bwrap_I386Call_FilteredByI386Numbers(string what, string call, string filteredResult, string unfilteredResult)
    {
        var helper = await CompileHelperAsync();
        var filter = WriteFilter(allowI386: true);
        var script = $"touch f; /i386call {call}";

        var kernelRunsI386 = await KernelRunsI386CallsAsync(helper);

        var filtered = await SeccompBwrap.RunAsync(filter, script, [(helper, "/i386call")]);
        var unfiltered = await SeccompBwrap.RunAsync(null, script, [(helper, "/i386call")]);

        if (!kernelRunsI386)
        {
            AssertFaulted(filtered, $"{what} filtered");
            AssertFaulted(unfiltered, $"{what} unfiltered");
            return;
        }

        AssertResult(filteredResult, filtered, $"{what} filtered");
        AssertResult(unfilteredResult, unfiltered, $"{what} unfiltered");
    }

    [Fact]
    public async Task Bwrap_I386CallWhenNotAllowed_KilledWithSigsys()
    {
        var helper = await CompileHelperAsync();
        var filter = WriteFilter(allowI386: false);

        var kernelRunsI386 = await KernelRunsI386CallsAsync(helper);

        var result = await SeccompBwrap.RunAsync(filter, "/i386call 20; echo status=$?", [(helper, "/i386call")]);

        if (!kernelRunsI386)
        {
            Assert.Contains("status=139", result.Stdout, StringComparison.Ordinal); // 128 + SIGSEGV: no IA32 emulation
            return;
        }

        Assert.Contains("status=159", result.Stdout, StringComparison.Ordinal); // 128 + SIGSYS
        Assert.Contains("Bad system call", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Whether this kernel runs i386 system calls at all: the helper's getpid outside any sandbox either answers or,
    /// without IA32 emulation, faults with SIGSEGV; anything else fails the test.
    /// </summary>
    private static Task<bool> KernelRunsI386CallsAsync(string helper) =>
        Execution.I386SupportTests.KernelAnswersAsync($"'{helper}' 20", "the i386 call helper");

    /// <summary>The helper faulted (SIGSEGV, the shell's status 139) before printing any result.</summary>
    private static void AssertFaulted(ProcessResult result, string what)
    {
        Assert.True(result.ExitCode == 139 && result.Stdout.Trim().Length == 0,
            $"{what}: expected the i386 call to fault without IA32 emulation (status 139, no result), got status {result.ExitCode}, '{result.Stdout.Trim()}' {result.Stderr}");
    }

    private static void AssertResult(string expected, ProcessResult result, string what)
    {
        var line = result.Stdout.Trim();
        if (expected == "!-")
            Assert.True(line.Length > 0 && !line.StartsWith('-'), $"{what}: expected success, got '{line}' {result.Stderr}");
        else
            Assert.True(line == expected, $"{what}: expected {expected}, got '{line}' {result.Stderr}");
    }

    private string WriteFilter(bool allowI386)
    {
        var path = _dir.Combine(allowI386 ? "x86_64-i386.bpf" : "x86_64.bpf");
        File.WriteAllBytes(path, SeccompFilter.Build(SeccompArch.X86_64, allowI386));
        return path;
    }

    private async Task<string> CompileHelperAsync()
    {
        // bwrap runs as the unprivileged uid and must be able to reach the helper it bind-mounts.
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0x1ED);
        var source = _dir.Combine("i386call.c");
        var binary = _dir.Combine("i386call");
        await File.WriteAllTextAsync(source, HelperSource);
        var cc = await ProcessRunner.ShellAsync("command -v cc || command -v gcc || command -v clang");
        Assert.True(cc.ExitCode == 0, "a C compiler (cc, gcc or clang) is needed to build the i386 call helper");
        var build = await ProcessRunner.RunAsync(cc.Stdout.Trim(), ["-O1", "-no-pie", "-o", binary, source]);
        build.EnsureSuccess("compiling the i386 call helper");
        return binary;
    }
}
