using System.Text.Json;
using BuildFarm.Worker.Sandbox;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// The test assembly's entry point (the test SDK's generated one is turned off): <c>dotnet exec
/// BuildFarm.Worker.Tests.dll sandbox-launch REQUEST.json</c> runs one build with the real <see cref="SandboxRunner"/>
/// in a process of its own, so a test can start it with the worker unit's user and capabilities (setpriv), which the
/// test process itself, root with every capability, cannot drop. The log goes to stdout, the result to REQUEST.json.result.
/// </summary>
internal static class SandboxLauncher
{
    public const string Command = "sandbox-launch";

    public static async Task<int> Main(string[] args)
    {
        if (args is not [Command, var requestFile])
        {
            await Console.Error.WriteLineAsync($"usage: {Command} REQUEST.json (run by the sandbox tests)");
            return 2;
        }

        var request = JsonSerializer.Deserialize<LaunchRequest>(await File.ReadAllTextAsync(requestFile))!;
        await using var stdout = Console.OpenStandardOutput();
        var result = await new SandboxRunner(request.Settings).RunAsync(request.Spec, (chunk, ct) => stdout.WriteAsync(chunk, ct), CancellationToken.None);
        await File.WriteAllTextAsync(requestFile + ".result", JsonSerializer.Serialize(result));
        return 0;
    }
}

/// <summary>One build for <see cref="SandboxLauncher"/>.</summary>
internal sealed record LaunchRequest(BuilderSpec Spec, SandboxSettings Settings);
