using BuildFarm.Hook.Farm;
using BuildFarm.Testing;

namespace BuildFarm.Hook.Tests.Farm;

public sealed class HookSettingsTests
{
    [Fact]
    public void Load_ConfigFileOnly_ReadsUrlTokenAndPostponeLimit()
    {
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "hook.json");
        File.WriteAllText(file, """{"url": "http://127.0.0.1:10180/", "token": "s3cret", "postponeLimitSeconds": 30}""");

        var (settings, error) = HookSettings.Load(n => n == "BUILDFARM_HOOK_CONFIG" ? file : null);

        Assert.Null(error);
        Assert.Equal(new HookSettings("http://127.0.0.1:10180", "s3cret", TimeSpan.FromSeconds(30)), settings);
    }

    [Fact]
    public void Load_EnvironmentAndFile_EnvironmentWins()
    {
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "hook.json");
        File.WriteAllText(file, """{"url": "http://file:1", "token": "file-token"}""");
        var env = new Dictionary<string, string> { ["BUILDFARM_HOOK_CONFIG"] = file, ["BUILDFARM_URL"] = "http://env:2", ["BUILDFARM_TOKEN"] = "env-token" };

        var (settings, _) = HookSettings.Load(n => env.GetValueOrDefault(n));

        Assert.Equal("http://env:2", settings!.Url);
        Assert.Equal("env-token", settings.Token);
    }

    [Fact]
    public void Load_NothingConfigured_ErrorNamesBothWays()
    {
        var (settings, error) = HookSettings.Load(n => n == "BUILDFARM_HOOK_CONFIG" ? "/nonexistent/hook.json" : null);

        Assert.Null(settings);
        Assert.Contains("BUILDFARM_URL", error, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/hook.json", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BrokenJson_ErrorNamesTheFile()
    {
        using var dir = new TempDirectory();
        var file = Path.Combine(dir.Path, "hook.json");
        File.WriteAllText(file, "{url:");

        var (_, error) = HookSettings.Load(n => n == "BUILDFARM_HOOK_CONFIG" ? file : null);

        Assert.StartsWith(file + ":", error, StringComparison.Ordinal);
    }
}
