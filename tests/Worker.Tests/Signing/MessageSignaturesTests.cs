using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Signing;

namespace BuildFarm.Worker.Tests.Signing;

/// <summary>The canonical text messages are signed over (BuildFarm.Messaging.Signing), shared by workers and dispatcher.</summary>
public sealed class MessageSignaturesTests
{
    private static readonly SigningKey Key = SigningKey.Generate("worker-a-1");
    private static readonly Guid Build = Guid.Parse("6f1c1c1e-8f0e-4a53-9d0c-1f4c6a2b3c4d");
    private static readonly DateTimeOffset At = new(2026, 12, 5, 4, 0, 0, 123, TimeSpan.FromHours(2));

    private static BuildFailed Failed() => new(Build, 2, "worker-a", BuildFailureKind.BuildFailure, 1, "exit 1", "tail", At);

    public static TheoryData<object> EveryKind() =>
    [
        new BuildStarted(Build, 1, "worker-a", At, BuildIsolation.Sandboxed),
        new BuildLogEmitted(Build, 1, "worker-a", 7, "line 1\nline 2\n"),
        new BuildSucceeded(Build, 1, "worker-a",
            [new BuiltOutput("out", "/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x", "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", 120, ["/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x"], ["worker-a-1:c2ln"])],
            new PhaseTimings(TimeSpan.FromMilliseconds(1.5), TimeSpan.FromSeconds(3), TimeSpan.Zero), At, 4096),
        Failed(),
        new BuildRequestExpired(Build, 1, "worker-a", At.AddDays(-2), At, "too old", TimeSpan.FromDays(1)),
        new WorkerStatusReported("worker-a", new WorkerCapabilities(["x86_64-linux"], ["kvm"], [], 4, 1.0 / 3), [new RunningBuild(Build, 1)],
            0.1 + 0.2, 1L << 40, "1.2.3", false, true, "note", At, new WorkerIsolation(BuildIsolation.Sandboxed, "probe built")),
        new WorkerWentOffline("worker-a", "drained", At),
        new CancelBuild(Build, "stop", "worker-a", 1, At),
        new DrainWorker("worker-a", null, At),
        new PauseWorker("worker-a", "maintenance", At),
        new ResumeWorker("worker-a", At),
        new ProbeWorkers(Build, new OriginEndpoint("origin", 22, "buildfarm", "SHA256:abc", "buildfarm --nix"), At),
    ];

    [Theory]
    [MemberData(nameof(EveryKind))]
    public void Sign_ThenJsonRoundTrip_StillVerifies(object message)
    {
        var signed = MessageSignatures.Sign(message, Key);
        var json = JsonSerializer.Serialize(signed, signed.GetType(), MessagingJson.Options);
        var received = JsonSerializer.Deserialize(json, signed.GetType(), MessagingJson.Options)!;

        Assert.Null(MessageSignatures.Problem(received, Key.PublicKey));
        Assert.StartsWith("worker-a-1:", MessageSignatures.SignatureOf(received), StringComparison.Ordinal);
    }

    [Fact]
    public void Problem_AnyFieldChangedAfterSigning_BadSignature()
    {
        var signed = MessageSignatures.Sign(Failed(), Key);
        BuildFailed[] tampered =
        [
            signed with { BuildId = Guid.NewGuid() }, signed with { Attempt = 3 }, signed with { WorkerName = "worker-b" },
            signed with { Kind = BuildFailureKind.Infrastructure }, signed with { ExitCode = null }, signed with { Reason = "exit 2" },
            signed with { LogTail = "" }, signed with { FinishedAt = At.AddTicks(1) },
        ];
        foreach (var t in tampered)
            Assert.Contains("bad signature", MessageSignatures.Problem(t, Key.PublicKey), StringComparison.Ordinal);
    }

    [Fact]
    public void Problem_UnsignedOrSignedByAnotherKeyOfTheSameName_Refused()
    {
        Assert.Contains("unsigned", MessageSignatures.Problem(Failed(), Key.PublicKey), StringComparison.Ordinal);
        var impostor = MessageSignatures.Sign(Failed(), SigningKey.Generate(Key.Name));
        Assert.Contains("bad signature", MessageSignatures.Problem(impostor, Key.PublicKey), StringComparison.Ordinal);
        var other = MessageSignatures.Sign(Failed(), SigningKey.Generate("worker-b-1"));
        Assert.Contains("signed by key 'worker-b-1', expected 'worker-a-1'", MessageSignatures.Problem(other, Key.PublicKey), StringComparison.Ordinal);
    }

    [Fact]
    public void SignedText_FieldBoundariesShifted_Differ()
    {
        var a = MessageSignatures.SignedText(new BuildLogEmitted(Build, 1, "ab", 1, "c"));
        var b = MessageSignatures.SignedText(new BuildLogEmitted(Build, 1, "a", 1, "bc"));
        var c = MessageSignatures.SignedText(new BuildLogEmitted(Build, 1, "a;1:b", 1, "c"));
        Assert.NotEqual(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(MessageSignatures.SignedText(new DrainWorker("w", null, At)), MessageSignatures.SignedText(new DrainWorker("w", "", At)));
    }

    [Fact]
    public void SignedText_SameFieldsOfAnotherKind_Differ()
    {
        // A signed pause must not stand in for a drain of the same worker.
        var pause = MessageSignatures.Sign(new PauseWorker("w", "n", At), Key);
        var drain = new DrainWorker("w", "n", At, pause.Signature);
        Assert.Contains("bad signature", MessageSignatures.Problem(drain, Key.PublicKey), StringComparison.Ordinal);
    }

    [Fact]
    public void SignedText_IsStable_SoOldAndNewReadersAgree()
    {
        Assert.Equal(
            "buildfarm-message;DrainWorker;8:worker-a;~;18:639320328001230000;",
            MessageSignatures.SignedText(new DrainWorker("worker-a", null, At)));
        Assert.Equal("buildfarm-request;2;639320328001230000;{}", SignedBuildRequest.SignedText(At, "{}"));
    }

    [Fact]
    public void SignedText_CommandId_EntersTheTextOnlyWhenSet()
    {
        var id = Guid.Parse("0b8e2c51-3c0a-4d9a-8a55-6c3f0f1d2e3a");
        Assert.Equal(
            "buildfarm-message;DrainWorker;8:worker-a;~;18:639320328001230000;36:0b8e2c51-3c0a-4d9a-8a55-6c3f0f1d2e3a;",
            MessageSignatures.SignedText(new DrainWorker("worker-a", null, At, CommandId: id)));
        var signed = MessageSignatures.Sign(new CancelBuild(Build, "stop", IssuedAt: At, CommandId: id), Key);
        Assert.Null(MessageSignatures.Problem(signed, Key.PublicKey));
        // A replay under a new id, or with the id stripped, is no longer the dispatcher's command.
        Assert.Contains("bad signature", MessageSignatures.Problem(signed with { CommandId = Guid.NewGuid() }, Key.PublicKey), StringComparison.Ordinal);
        Assert.Contains("bad signature", MessageSignatures.Problem(signed with { CommandId = null }, Key.PublicKey), StringComparison.Ordinal);
    }

    /// <summary>
    /// The version-2 texts of what workers send are frozen: a release one contract version apart rebuilds exactly these,
    /// so a change here breaks mixed farms (a later field enters the text only when non-null: MessageSignatures).
    /// </summary>
    [Fact]
    public void SignedText_Version2WorkerEvents_AreFrozen()
    {
        Assert.Equal(
            "buildfarm-message;BuildFailed;36:6f1c1c1e-8f0e-4a53-9d0c-1f4c6a2b3c4d;1:2;8:worker-a;12:BuildFailure;1:1;6:exit 1;4:tail;18:639320328001230000;",
            MessageSignatures.SignedText(Failed()));
        Assert.Equal(
            "buildfarm-message;WorkerStatusReported;8:worker-a;1:1;12:x86_64-linux;1:1;20:buildfarm-contract-3;1:0;1:2;18:0.3333333333333333;1:0;1:0;" +
            "13:1099511627776;5:1.2.3;1:0;1:1;~;18:639320328001230000;~;~;~;~;~;~;",
            MessageSignatures.SignedText(new WorkerStatusReported("worker-a", new WorkerCapabilities(["x86_64-linux"], ["buildfarm-contract-3"], [], 2, 1.0 / 3), [],
                0, 1L << 40, "1.2.3", false, true, null, At)));
    }

    [Fact]
    public void Sign_NotASignedKind_PassesThrough()
    {
        var probed = new WorkerProbed(Build, "w", "1", At, At, "not-asked", "");
        Assert.Same(probed, MessageSignatures.Sign(probed, Key));
        Assert.Throws<ArgumentException>(() => MessageSignatures.SignedText(probed));
    }
}
