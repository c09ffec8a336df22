using System.Text;
using BuildFarm.Hook.Guix;
using BuildFarm.Hook.Protocol;

namespace BuildFarm.Hook.Tests.Guix;

/// <summary>
/// Plays guix-daemon's side of <c>guix offload</c> byte for byte (nix/libstore/build.cc of guix-daemon: the
/// candidate line is <c>format("%1% %2% %3% %4%")</c>, features joined by commas; after accept the inputs line and
/// the missing-outputs line, space-separated with a trailing space, then stdin closes).
/// </summary>
public sealed class GuixHookSessionTests
{
    private const string Drv = "/gnu/store/0bmhaxvz1z3z2k8j9g7ngx4yklw1gmwf-hello-2.12.drv";
    private const string Out = "/gnu/store/6fbh8phmp3izay6c0dpggpxhcjn4xlm5-hello-2.12";

    private static async Task<(int Exit, string Stderr, string Log)> RunAsync(IHookFarm farm, string daemonBytes)
    {
        var stderr = new MemoryStream();
        var log = new MemoryStream();
        var exit = await new GuixHookSession(farm, new PostponeBudget(TimeProvider.System, TimeSpan.FromMinutes(2)))
            .RunAsync(new MemoryStream(Encoding.UTF8.GetBytes(daemonBytes)), stderr, log, CancellationToken.None);
        return (exit, Encoding.UTF8.GetString(stderr.ToArray()), Encoding.UTF8.GetString(log.ToArray()));
    }

    [Fact]
    public async Task RunAsync_AcceptAndSuccess_RepliesAcceptReadsBothLinesExitsZero()
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Accept()]), new HookBuildResult(HookOutcome.Built, "ok", [Out]), "building hello\n");

        var (exit, stderr, log) = await RunAsync(farm, $"1 x86_64-linux {Drv} kvm,big-parallel\n/gnu/store/aaa-input /gnu/store/bbb-guile \n{Out} \n");

        Assert.Equal(0, exit);
        Assert.Equal("# accept\n", stderr);
        Assert.Equal("building hello\n", log);
        var asked = Assert.Single(farm.Asked);
        Assert.True(asked.AmWilling);
        Assert.Equal(["kvm", "big-parallel"], asked.Features);
        Assert.Equal([Out], Assert.Single(farm.Built).Wanted);
    }

    [Fact]
    public async Task RunAsync_Decline_SaysWhyThenDeclinesAndReadsTheNextCandidate()
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Decline("no machine can build system mips64el-linux"), ScriptedFarm.Decline("again")]));

        var (exit, stderr, _) = await RunAsync(farm, $"0 mips64el-linux {Drv} \n0 mips64el-linux {Drv} \n");

        Assert.Equal(0, exit);
        Assert.Equal($"buildfarm: {Drv}: no machine can build system mips64el-linux\n# decline\nbuildfarm: {Drv}: again\n# decline\n", stderr);
        Assert.Empty(Assert.IsType<string[]>(farm.Asked[0].Features.ToArray()));
    }

    [Fact]
    public async Task RunAsync_PostponeThenAccept_AnswersPostponeThenBuilds()
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Postpone(), ScriptedFarm.Accept()]), new HookBuildResult(HookOutcome.Built, "ok", [Out]));

        var (exit, stderr, _) = await RunAsync(farm, $"0 x86_64-linux {Drv} \n0 x86_64-linux {Drv} \n\n{Out} \n");

        Assert.Equal(0, exit);
        Assert.Equal("# postpone\n# accept\n", stderr);
        Assert.Single(farm.Built);
    }

    [Theory]
    [InlineData(HookOutcome.BuildFailed, 100)]
    [InlineData(HookOutcome.TimedOut, 101)]
    [InlineData(HookOutcome.Failed, 1)]
    public async Task RunAsync_Failure_ExitsWithGuixCodeAndTheReasonOnTheLog(HookOutcome outcome, int code)
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Accept()]), new HookBuildResult(outcome, "builder exited with 2", []), "oops\n");

        var (exit, stderr, log) = await RunAsync(farm, $"1 x86_64-linux {Drv} \n\n{Out} \n");

        Assert.Equal(code, exit);
        Assert.Equal("# accept\n", stderr);
        Assert.Equal("oops\nbuildfarm: builder exited with 2\n", log);
    }

    [Fact]
    public async Task RunAsync_StdinClosedAfterAcceptBeforeOutputs_ThrowsEndOfStream()
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Accept()]));
        await Assert.ThrowsAsync<EndOfStreamException>(() => RunAsync(farm, $"1 x86_64-linux {Drv} \n/gnu/store/aaa-input \n"));
    }

    [Theory]
    [InlineData("yes x86_64-linux /gnu/store/x.drv ")]
    [InlineData("1 x86_64-linux")]
    public void Parse_MalformedLine_ThrowsQuotingIt(string line)
    {
        var e = Assert.Throws<InvalidDataException>(() => GuixHookSession.Parse(line));
        Assert.Contains(line, e.Message, StringComparison.Ordinal);
    }
}
