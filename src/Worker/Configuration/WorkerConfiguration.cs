using Microsoft.Extensions.Configuration;

namespace BuildFarm.Worker.Configuration;

/// <summary>Where the worker's configuration comes from: the JSON file, then <c>BUILDFARM_WORKER__*</c> variables.</summary>
internal static class WorkerConfiguration
{
    public const string EnvironmentPrefix = "BUILDFARM_WORKER__";

    public static IConfigurationBuilder AddWorkerSources(this IConfigurationBuilder builder, string configFile) =>
        builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false)
            .AddEnvironmentVariables(EnvironmentPrefix);

    /// <summary>Binds without the host (for <c>check</c>); binding errors name the key and value.</summary>
    public static WorkerOptions Load(string configFile)
    {
        var config = new ConfigurationBuilder().AddWorkerSources(configFile).Build();
        var options = new WorkerOptions();
        config.Bind(options, b => b.ErrorOnUnknownConfiguration = true);
        return options;
    }
}
