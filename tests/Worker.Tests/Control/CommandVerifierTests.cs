using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Signing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Control;
using BuildFarm.Worker.Keys;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace BuildFarm.Worker.Tests.Control;

/// <summary>Freshness and once-only of signed control commands on a fake clock (the broker tests are SignedCommandTests).</summary>
public sealed class CommandVerifierTests
{
    private static readonly SigningKey Dispatcher = SigningKey.Generate("dispatcher-unit-1");
    private static readonly DateTimeOffset DispatcherNow = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    private readonly List<string> _log = [];

    [Fact]
    public void Accept_SameCommandTwice_SecondRefusedAsReplay()
    {
        var (verifier, _, _) = Verifier(workerAhead: TimeSpan.Zero);
        var pause = Pause(DispatcherNow);

        Assert.True(verifier.Accept(pause, pause.IssuedAt));
        Assert.False(verifier.Accept(pause, pause.IssuedAt));
        Assert.Contains(_log, m => m.Contains("a replay: command " + pause.CommandId, StringComparison.Ordinal));
        // Another command with another id is not a replay.
        var again = Pause(DispatcherNow);
        Assert.True(verifier.Accept(again, again.IssuedAt));
    }

    [Fact]
    public void Accept_ReplayAfterTheIdIsForgotten_RefusedAsTooOld()
    {
        var (verifier, time, _) = Verifier(workerAhead: TimeSpan.Zero);
        var pause = Pause(DispatcherNow);
        Assert.True(verifier.Accept(pause, pause.IssuedAt));

        time.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(2));
        Assert.False(verifier.Accept(pause, pause.IssuedAt));
        Assert.Contains(_log, m => m.Contains("beyond Freshness:MaxCommandAge", StringComparison.Ordinal));
    }

    [Fact]
    public void Accept_WorkerClockAnHourAhead_JudgedByTheDispatchersClockOnceKnown()
    {
        var (verifier, time, clock) = Verifier(workerAhead: TimeSpan.FromHours(1));

        // Nothing from the dispatcher yet: by this worker's clock the command is an hour old.
        var first = Pause(DispatcherNow);
        Assert.False(verifier.Accept(first, first.IssuedAt));
        Assert.Contains(_log, m => m.Contains("no earlier signed message from the dispatcher", StringComparison.Ordinal));

        // A signed request issued now tells the worker the dispatcher's clock; 30 s later a new command is fresh.
        clock.Observe(DispatcherNow);
        time.Advance(TimeSpan.FromSeconds(30));
        var pause = Pause(DispatcherNow.AddSeconds(30));
        Assert.True(verifier.Accept(pause, pause.IssuedAt));
        Assert.Contains(_log, m => m.Contains("judged by the dispatcher's clock", StringComparison.Ordinal));

        // Still replay-proof: the same command again is refused, and so is one issued 10 min before the dispatcher's clock.
        Assert.False(verifier.Accept(pause, pause.IssuedAt));
        Assert.Contains(_log, m => m.Contains("a replay: command", StringComparison.Ordinal));
        var old = Pause(DispatcherNow.AddMinutes(-10));
        Assert.False(verifier.Accept(old, old.IssuedAt));
        Assert.Contains(_log, m => m.Contains("by the dispatcher's clock as this worker knows it", StringComparison.Ordinal) && m.Contains("too", StringComparison.Ordinal));

        // After the id is forgotten the command is too old by both clocks.
        time.Advance(TimeSpan.FromMinutes(6));
        Assert.False(verifier.Accept(pause, pause.IssuedAt));
    }

    [Fact]
    public void Accept_WorkerClockBehind_RememberedUntilItsOwnClockCatchesUp()
    {
        var (verifier, time, clock) = Verifier(workerAhead: TimeSpan.FromMinutes(-30));
        clock.Observe(DispatcherNow);
        var pause = Pause(DispatcherNow);
        Assert.True(verifier.Accept(pause, pause.IssuedAt));

        // 28 minutes on, this worker's clock finds the command fresh (2 min in its future): the id must still be known.
        time.Advance(TimeSpan.FromMinutes(28));
        Assert.False(verifier.Accept(pause, pause.IssuedAt));
        Assert.Contains(_log, m => m.Contains("a replay: command", StringComparison.Ordinal));
    }

    [Fact]
    public void Accept_FromAnOlderDispatcherWithoutId_RememberedBySignature()
    {
        var (verifier, _, _) = Verifier(workerAhead: TimeSpan.Zero);
        var pause = MessageSignatures.Sign(new PauseWorker("w", "no id", DispatcherNow), Dispatcher);
        Assert.True(verifier.Accept(pause, pause.IssuedAt));
        Assert.False(verifier.Accept(pause, pause.IssuedAt));
    }

    [Fact]
    public void DispatcherClock_ReplayedOlderMessage_DoesNotMoveItBack()
    {
        var time = new FakeTimeProvider(DispatcherNow);
        var clock = new DispatcherClock(time);
        Assert.Null(clock.Now());
        clock.Observe(DispatcherNow);
        time.Advance(TimeSpan.FromSeconds(10));
        clock.Observe(DispatcherNow.AddHours(-2));
        Assert.Equal(DispatcherNow.AddSeconds(10), clock.Now());
    }

    private static PauseWorker Pause(DateTimeOffset issuedAt) =>
        MessageSignatures.Sign(new PauseWorker("w", "n", issuedAt, CommandId: Guid.NewGuid()), Dispatcher);

    private (CommandVerifier Verifier, FakeTimeProvider Time, DispatcherClock Clock) Verifier(TimeSpan workerAhead)
    {
        var time = new FakeTimeProvider(DispatcherNow + workerAhead);
        var clock = new DispatcherClock(time);
        var keys = new WorkerKeys(SigningKey.Generate("w-1"), new TrustedKeys([Dispatcher.PublicKey]));
        var logger = new LoggerConfiguration().WriteTo.Sink(new Collect(_log)).CreateLogger();
        return (new CommandVerifier(keys, Options.Create(new WorkerOptions()), clock, new AppliedCommands(time), time, logger), time, clock);
    }

    private sealed class Collect(List<string> into) : ILogEventSink
    {
        public void Emit(LogEvent logEvent) => into.Add(logEvent.RenderMessage(System.Globalization.CultureInfo.InvariantCulture));
    }
}
