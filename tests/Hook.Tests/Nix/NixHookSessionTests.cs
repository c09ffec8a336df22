using System.Text;
using BuildFarm.Hook.Nix;
using BuildFarm.Hook.Protocol;
using BuildFarm.Hook.Wire;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Hook.Tests.Nix;

/// <summary>Plays Nix 2.8's daemon byte for byte, as recorded from the real binary (docs/hook.md).</summary>
public sealed class NixHookSessionTests
{
    private const string Drv = "/nix/store/20jirqki0bhbwfybl4xhdppn7xnraymf-rec-a-7144.drv";

    private static MemoryStream Daemon(Action<NixWireWriter> script)
    {
        var stream = new MemoryStream();
        var w = new NixWireWriter(stream);
        // Settings preamble: 1, name, value per setting, then 0.
        w.U64(1).Text("max-jobs").Text("0").U64(1).Text("system-features").Text("kvm").U64(0);
        script(w);
        stream.Position = 0;
        return stream;
    }

    private static void Try(NixWireWriter w, string drv = Drv, string system = "x86_64-linux", params string[] features) =>
        w.Text("try").U64(0).Text(system).Text(drv).Strings(features);

    private static async Task<(int Exit, string Stderr, string Log, NixHookSession Session)> RunAsync(IHookFarm farm, MemoryStream stdin, TimeProvider? time = null)
    {
        var stderr = new MemoryStream();
        var log = new MemoryStream();
        var session = new NixHookSession(farm, new PostponeBudget(time ?? TimeProvider.System, TimeSpan.FromMinutes(2)));
        var exit = await session.RunAsync(stdin, stderr, log, CancellationToken.None);
        return (exit, Encoding.UTF8.GetString(stderr.ToArray()), Encoding.UTF8.GetString(log.ToArray()), session);
    }

    [Fact]
    public async Task RunAsync_AcceptedAndBuilt_RepliesAcceptWithMachineThenExitsZeroWithLogOnFd4()
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Accept()]), new HookBuildResult(HookOutcome.Built, "ok", ["/nix/store/x-out"]), "hello from w1\n");
        var stdin = Daemon(w =>
        {
            Try(w, features: "kvm");
            w.Strings(["/nix/store/b8zzzm23p9pd6h8zbaiz806gqid7q81v-bb"]).Strings(["dev", "out"]);
        });

        var (exit, stderr, log, session) = await RunAsync(farm, stdin);

        Assert.Equal(0, exit);
        Assert.Equal("# accept\nbuildfarm/w1\n", stderr);
        Assert.Equal("hello from w1\n", log);
        Assert.Equal("0", session.Settings["max-jobs"]);
        var asked = Assert.Single(farm.Asked);
        Assert.Equal((false, "x86_64-linux", Drv), (asked.AmWilling, asked.System, asked.DrvPath));
        Assert.Equal(["kvm"], asked.Features);
        var built = Assert.Single(farm.Built);
        Assert.Equal(["dev", "out"], built.Wanted);
    }

    [Fact]
    public async Task RunAsync_DeclineThenPostponeThenEndOfStdin_AnswersEachAndExitsZero()
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Decline(), ScriptedFarm.Postpone()]));
        var stdin = Daemon(w =>
        {
            Try(w, "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-impossible.drv", "mips64el-linux");
            Try(w);
        });

        var (exit, stderr, _, _) = await RunAsync(farm, stdin);

        Assert.Equal(0, exit);
        Assert.Equal(
            "buildfarm: /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-impossible.drv: no machine can build system mips64el-linux\n# decline\n# postpone\n",
            stderr);
        Assert.Empty(farm.Built);
    }

    [Theory]
    [InlineData(HookOutcome.BuildFailed, 100)]
    [InlineData(HookOutcome.TimedOut, 101)]
    [InlineData(HookOutcome.Failed, 1)]
    public async Task RunAsync_FarmBuildFails_ExitsWithNixCodeAndSaysWhyOnTheLog(HookOutcome outcome, int code)
    {
        var farm = new ScriptedFarm(new([ScriptedFarm.Accept()]), new HookBuildResult(outcome, "builder exited with 3", []), "making...\n");
        var stdin = Daemon(w =>
        {
            Try(w);
            w.Strings([]).Strings(["out"]);
        });

        var (exit, _, log, _) = await RunAsync(farm, stdin);

        Assert.Equal(code, exit);
        Assert.Equal("making...\nbuildfarm: builder exited with 3\n", log);
    }

    [Fact]
    public async Task RunAsync_PostponedPastTheBudget_DeclinesSayingHowLongItWaited()
    {
        var time = new FakeTimeProvider();
        var farm = new ScriptedFarm(new([ScriptedFarm.Postpone(), ScriptedFarm.Postpone()]));
        var stdin = new BlockingDaemon(time);

        var stderr = new MemoryStream();
        var session = new NixHookSession(farm, new PostponeBudget(time, TimeSpan.FromMinutes(2)));
        var exit = await session.RunAsync(stdin.Stream, stderr, new MemoryStream(), CancellationToken.None);

        Assert.Equal(0, exit);
        var text = Encoding.UTF8.GetString(stderr.ToArray());
        Assert.StartsWith("# postpone\nbuildfarm: " + Drv + ": declined after postponing for 121 s (limit 120 s): busy\n# decline\n", text);
    }

    [Fact]
    public async Task RunAsync_UnknownCommand_ThrowsNamingIt()
    {
        var stdin = Daemon(w => w.Text("tyr"));
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => RunAsync(new ScriptedFarm(new()), stdin));
        Assert.Contains("'tyr'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_StdinEndsInsideTry_ThrowsEndOfStream()
    {
        var stdin = Daemon(w => w.Text("try").U64(1).Text("x86_64-linux"));
        await Assert.ThrowsAsync<EndOfStreamException>(() => RunAsync(new ScriptedFarm(new()), stdin));
    }

    /// <summary>Two tries of the same derivation with the clock advanced 121 s between them.</summary>
    private sealed class BlockingDaemon
    {
        public BlockingDaemon(FakeTimeProvider time)
        {
            var first = new MemoryStream();
            new NixWireWriter(first).U64(0);
            Try(new NixWireWriter(first));
            var second = new MemoryStream();
            Try(new NixWireWriter(second));
            Stream = new AdvancingStream(first.ToArray(), second.ToArray(), () => time.Advance(TimeSpan.FromSeconds(121)));
        }

        public Stream Stream { get; }
    }

    private sealed class AdvancingStream(byte[] first, byte[] second, Action between) : Stream
    {
        private readonly MemoryStream _a = new(first);
        private readonly MemoryStream _b = new(second);
        private bool _advanced;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = _a.Read(buffer, offset, count);
            if (n > 0)
                return n;
            if (!_advanced)
            {
                between();
                _advanced = true;
            }

            return _b.Read(buffer, offset, count);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
