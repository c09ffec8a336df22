namespace BuildFarm.Hook.Farm;

/// <summary>POST /api/hook/decide: may the farm take this build now?</summary>
public sealed record HookDecideRequest(string System, IReadOnlyList<string> Features, string? DrvPath);

/// <summary>The dispatcher's answer: <c>accept</c>, <c>postpone</c> or <c>decline</c>, with the reason in words.</summary>
public sealed record HookDecideResponse(string Verdict, string Machine, string Reason);

/// <summary>POST /api/hook/builds: build this derivation for a daemon's hook and stream it (NDJSON events).</summary>
public sealed record HookBuildRequest(string DrvPath, string? DrvText);

/// <summary>One line of the POST /api/hook/builds stream: a piece of builder log, or the end (exactly one, last).</summary>
public sealed record HookBuildEvent(string? Log, HookBuildEnd? End);

/// <summary>How the farm's build ended: state <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
public sealed record HookBuildEnd(Guid BuildId, string State, string? FailureKind, string? Reason, string? Worker, IReadOnlyList<HookBuildOutput> Outputs);

public sealed record HookBuildOutput(string Name, string Path);
