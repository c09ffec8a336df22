using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Ui;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Serilog.Formatting.Compact;

namespace BuildFarm.Dispatcher.Hosting;

/// <summary>Builds the <c>buildfarm serve</c> web host from a config file plus overrides (tests pass their own).</summary>
internal static class DispatcherHost
{
    public static WebApplication Build(string? configFile, IDictionary<string, string?>? overrides = null, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.Sources.Clear();
        if (configFile is not null)
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        builder.Configuration.AddDispatcherEnvironment();
        if (overrides is not null)
            builder.Configuration.AddInMemoryCollection(overrides);
        var errors = DispatcherRegistration.Validate(builder.Configuration);
        if (errors.Count > 0)
            throw new InvalidOperationException("invalid dispatcher configuration" + (configFile is null ? "" : $" in {configFile}") + ":\n  " + string.Join("\n  ", errors));
        var options = builder.Configuration.GetSection(DispatcherOptions.Section).Get<DispatcherOptions>() ?? new DispatcherOptions();
        builder.WebHost.UseUrls(options.ListenUrl);
        builder.Services.AddDispatcherApi(builder.Configuration);
        builder.Services.AddSerilog((_, lc) =>
        {
            lc.MinimumLevel.Information()
                .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
                .MinimumLevel.Override("MassTransit", Serilog.Events.LogEventLevel.Warning)
                .Enrich.FromLogContext()
                .WriteTo.Console(standardErrorFromLevel: Serilog.Events.LogEventLevel.Verbose);
            if (options.LogFile.Length > 0)
                lc.WriteTo.File(new CompactJsonFormatter(), options.LogFile);
        });
        configureServices?.Invoke(builder.Services);
        builder.AddDispatcher();
        var app = builder.Build();
        app.MapDispatcherApi();
        app.MapUiAssets();
        return app;
    }
}
