using BuildFarm.Cli;

namespace BuildFarm.Cli.Tests;

public sealed class BuildFarmCliTests
{
    [Fact]
    public void Build_RootCommand_HasTheCommandGroups()
    {
        var root = BuildFarmCli.Build();
        var names = root.Subcommands.Select(c => c.Name).ToArray();
        Assert.Contains("store", names);
        Assert.Contains("drv", names);
        Assert.Contains("keys", names);
    }

    [Fact]
    public void Parse_UnknownCommand_ReportsError()
    {
        var result = BuildFarmCli.Build().Parse(["no-such-command"]);
        Assert.NotEmpty(result.Errors);
    }
}
