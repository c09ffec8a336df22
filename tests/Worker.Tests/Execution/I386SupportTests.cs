using BuildFarm.Testing;
using BuildFarm.Worker.Execution;

namespace BuildFarm.Worker.Tests.Execution;

/// <summary>
/// The worker's i386 probe against the real kernel, checked against a second witness: a C program compiled here that
/// makes the same call with <c>int $0x80</c>. On a kernel with IA32 emulation both must say yes; on one without (this
/// project's CI machines run a Firecracker kernel without it) both must say no.
/// </summary>
public sealed class I386SupportTests : IDisposable
{
    private const string WitnessSource = """
        int main(void) {
            long r;
            __asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory");
            return r > 0 ? 0 : 1;
        }
        """;

    private readonly TempDirectory _dir = new("i386-support");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ProblemAsync_RealKernel_AgreesWithCompiledWitness()
    {
        var kernelRunsI386 = await WitnessRunsAsync(_dir);

        var problem = await I386Support.ProblemAsync(CancellationToken.None);

        if (kernelRunsI386)
            Assert.Null(problem);
        else
            Assert.Equal("this kernel cannot run 32-bit x86 programs: it has no IA32 emulation (an i386 system call faulted with SIGSEGV)", problem);
    }

    [Theory]
    [InlineData(new[] { "x86_64-linux" }, false)]
    [InlineData(new[] { "x86_64-linux", "i686-linux" }, true)]
    [InlineData(new[] { "i686-linux" }, true)]
    [InlineData(new[] { "aarch64-linux", "I686-linux" }, false)]
    public void Needed_Systems_OnlyWhenI686IsOffered(string[] systems, bool expected) =>
        Assert.Equal(expected, I386Support.Needed(systems));

    /// <summary>Whether the witness's i386 getpid answered (exit 0) or faulted (SIGSEGV); anything else fails the test.</summary>
    internal static async Task<bool> WitnessRunsAsync(TempDirectory dir)
    {
        var source = dir.Combine("i386-witness.c");
        var binary = dir.Combine("i386-witness");
        await File.WriteAllTextAsync(source, WitnessSource);
        var cc = await ProcessRunner.ShellAsync("command -v cc || command -v gcc || command -v clang");
        Assert.True(cc.ExitCode == 0, "a C compiler (cc, gcc or clang) is needed to build the i386 witness");
        (await ProcessRunner.RunAsync(cc.Stdout.Trim(), ["-O1", "-o", binary, source])).EnsureSuccess("compiling the i386 witness");
        return await KernelAnswersAsync($"'{binary}'", "the i386 witness");
    }

    /// <summary>
    /// Runs <paramref name="command"/>, a program making an i386 call outside any sandbox: true if it exited 0, false
    /// if it died of SIGSEGV (no IA32 emulation); anything else fails the test.
    /// </summary>
    internal static async Task<bool> KernelAnswersAsync(string command, string what)
    {
        var run = await ProcessRunner.ShellAsync($"{command}; echo status=$?");
        if (run.Stdout.Contains("status=0", StringComparison.Ordinal))
            return true;
        Assert.True(run.Stdout.Contains("status=139", StringComparison.Ordinal), $"{what} neither ran nor faulted with SIGSEGV outside the sandbox: {run.Stdout} {run.Stderr}");
        return false;
    }
}
