using System.CommandLine;

namespace BuildFarm.Worker.Cli;

/// <summary>The <c>buildfarm-worker</c> command tree.</summary>
internal static class WorkerCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("BuildFarm worker agent: builds derivations it can run, taken from the farm's queues.");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(CheckCommand.Create());
        root.Subcommands.Add(InitCommand.Create());
        var debug = DebugSshCatCommand.Create();
        debug.Subcommands.Add(DebugSandboxCostCommand.Create());
        debug.Subcommands.Add(DebugPullCommand.Create());
        root.Subcommands.Add(debug);
        return root;
    }

    public static Option<FileInfo> ConfigOption() => new("--config")
    {
        Description = "The worker's JSON configuration (keys overridable by BUILDFARM_WORKER__Key environment variables)",
        Required = true,
    };
}
