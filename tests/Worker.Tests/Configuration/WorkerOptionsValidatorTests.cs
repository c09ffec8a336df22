using BuildFarm.Testing;
using BuildFarm.Worker.Cli;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Tests.Configuration;

public sealed class WorkerOptionsValidatorTests
{
    private static WorkerOptions Valid() => new()
    {
        Name = "w1",
        Systems = ["x86_64-linux"],
        Keys = new KeysSection { SigningKeyFile = "/k", TrustedDispatcherKeysFile = "/t" },
        AllowUnsandboxed = true,
    };

    [Fact]
    public void Problems_ValidOptions_None() => Assert.Empty(WorkerOptionsValidator.Problems(Valid()));

    [Fact]
    public void Problems_BadValues_NameKeyValueAndWhatIsValid()
    {
        var o = Valid();
        o.Slots = 0;
        o.SpeedFactor = -2;
        o.Systems = ["x86 64"];
        o.Broker.Uri = "http://nope";
        var problems = WorkerOptionsValidator.Problems(o);
        Assert.Contains(problems, p => p.Contains("Slots = 0", StringComparison.Ordinal) && p.Contains("between 1 and 1024", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("SpeedFactor = -2", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Systems item 'x86 64'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Broker:Uri 'http://nope'", StringComparison.Ordinal));
    }

    [Fact]
    public void Problems_UnsandboxedNotAllowed_SaysWhyAndHow()
    {
        var o = Valid();
        o.AllowUnsandboxed = false;
        var problem = Assert.Single(WorkerOptionsValidator.Problems(o));
        Assert.Contains("AllowUnsandboxed", problem, StringComparison.Ordinal);
        Assert.Contains("no build sandbox", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ConfigWithoutAllowUnsandboxed_RefusesToStart()
    {
        using var dir = new TempDirectory("cfg");
        var file = dir.Combine("worker.json");
        File.WriteAllText(file, """{ "Name": "w1", "Systems": ["x86_64-linux"], "Keys": { "SigningKeyFile": "/k", "TrustedDispatcherKeysFile": "/t" } }""");
        var exit = await WorkerCli.Build().Parse(["run", "--config", file]).InvokeAsync();
        Assert.Equal(RunCommand.ConfigError, exit);
    }

    [Fact]
    public void Load_EnvironmentVariable_OverridesFile()
    {
        using var dir = new TempDirectory("cfg");
        var file = dir.Combine("worker.json");
        File.WriteAllText(file, """{ "Name": "w1", "Slots": 2 }""");
        Environment.SetEnvironmentVariable("BUILDFARM_WORKER__Slots", "7");
        try
        {
            Assert.Equal(7, WorkerConfiguration.Load(file).Slots);
        }
        finally
        {
            Environment.SetEnvironmentVariable("BUILDFARM_WORKER__Slots", null);
        }
    }

    [Fact]
    public void Load_UnknownKey_ErrorNamesIt()
    {
        using var dir = new TempDirectory("cfg");
        var file = dir.Combine("worker.json");
        File.WriteAllText(file, """{ "Name": "w1", "Slotz": 2 }""");
        var e = Assert.Throws<InvalidOperationException>(() => WorkerConfiguration.Load(file));
        Assert.Contains("Slotz", e.Message, StringComparison.Ordinal);
    }
}
