using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Events;
using BuildFarm.Dispatcher.Graphs;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Metrics;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Publishing;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Dispatcher.Ui;
using BuildFarm.Messaging.Broker;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace BuildFarm.Dispatcher.Hosting;

/// <summary>The dispatcher's composition root: one call wires lifecycle, publishing, events, registry and API services.</summary>
internal static class DispatcherRegistration
{
    public static IHostApplicationBuilder AddDispatcher(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        var options = builder.Configuration.GetSection(DispatcherOptions.Section).Get<DispatcherOptions>() ?? new DispatcherOptions();
        var broker = builder.Configuration.GetSection("Broker").Get<BrokerOptions>() ?? new BrokerOptions();
        services.AddOptions<DispatcherOptions>().Bind(builder.Configuration.GetSection(DispatcherOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DispatcherOptions>, DispatcherOptionsValidator>();
        services.TryAddSingletonTimeProvider();
        services.AddSingleton(broker);
        services.AddSingleton(new LifecycleSettings(options.LeaseDuration, options.MaxAttempts, options.MaxLogBytesPerBuild, options.HeartbeatInterval,
            [.. options.ContractVersions.Distinct().Order()]));
        services.AddSingleton(sp => LifecycleDatabase.OpenAsync(options.DatabasePath, CancellationToken.None).GetAwaiter().GetResult());
        services.AddSingleton(_ => RequestSigner.Load(options.SigningKeyFile));
        services.AddSingleton<RabbitBuildRequestPublisher>();
        services.AddSingleton<IBuildRequestPublisher>(sp => sp.GetRequiredService<RabbitBuildRequestPublisher>());
        services.AddSingleton<IControlPublisher>(sp => sp.GetRequiredService<MassTransitControlPublisher>());
        var nix = NixOrigin.From(options);
        var layout = StoreLayout.Create(options.StoreDir, nix is null ? options.Root : "");
        var origin = OriginConfig.Resolve(options, []);
        // Every worker event and every result is checked against these keys, with or without an origin; a missing or
        // bad file fails start-up validation (DispatcherOptionsValidator) before anything resolves this.
        var workerKeys = origin?.WorkerKeys ?? TrustedKeysFile.Load(options.TrustedWorkerKeysFile, out _);
        services.AddSingleton(_ => workerKeys ?? throw new InvalidOperationException(
            $"Dispatcher:TrustedWorkerKeysFile '{options.TrustedWorkerKeysFile}' is unusable: give the workers' public keys (name:base64, one a line)"));
        services.AddSingleton<WorkerEventAuthenticator>();
        services.AddSingleton(sp => new OriginStore(layout, sp.GetRequiredService<TimeProvider>(), nix));
        services.AddSingleton(sp => new BuildLifecycle(
            sp.GetRequiredService<LifecycleDatabase>(), sp.GetRequiredService<IBuildRequestPublisher>(), sp.GetRequiredService<IControlPublisher>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<LifecycleSettings>(),
            origin is null ? null : new OutputImporter(sp.GetRequiredService<OriginStore>(), origin.WorkerKeys, sp.GetRequiredService<TimeProvider>()),
            sp.GetRequiredService<TrustedKeysFile>()));
        services.AddSingleton(sp => new BuildSubmitter(sp.GetRequiredService<BuildLifecycle>(), sp.GetRequiredService<OriginStore>(), origin));
        services.AddSingleton(new DerivationIntake(layout));
        services.AddSingleton(sp => new GraphExpander(sp.GetRequiredService<OriginStore>()));
        services.AddSingleton<GraphScheduler>();
        services.AddHostedService(sp => new GraphSweeper(sp.GetRequiredService<GraphScheduler>(), sp.GetRequiredService<LifecycleDatabase>().Signals, sp.GetRequiredService<TimeProvider>(), options.SweepInterval));
        if (origin is not null)
        {
            services.AddHostedService(sp => new QuarantineSweeper(
                sp.GetRequiredService<OriginStore>(), sp.GetRequiredService<LifecycleDatabase>(), sp.GetRequiredService<TimeProvider>(), options.QuarantineGrace / 4, options.QuarantineGrace));
        }

        services.AddHostedService(sp => new RetentionSweeper(sp.GetRequiredService<LifecycleDatabase>(), sp.GetRequiredService<TimeProvider>(),
            new RetentionSettings(options.Retention.MaxAge, options.Retention.MaxFinishedBuilds, options.Retention.SweepInterval, options.Retention.BatchSize)));
        services.AddHostedService(sp => new LeaseSweeper(sp.GetRequiredService<BuildLifecycle>(), sp.GetRequiredService<TimeProvider>(), options.SweepInterval));
        services.TryAddSingleton<EventObserver>();
        services.AddSingleton(sp => new ResultImports(
            sp.GetRequiredService<BuildLifecycle>(), sp.GetRequiredService<EventObserver>(), sp.GetRequiredService<TimeProvider>(), options.ImportConcurrency));
        services.AddHostedService(sp => sp.GetRequiredService<ResultImports>());
        services.AddDispatcherEvents(broker);
        return builder;
    }

    private static void TryAddSingletonTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
            services.AddSingleton(TimeProvider.System);
    }

    /// <summary>Every config error at once, each naming key, value and valid form; empty when the config is usable.</summary>
    public static IReadOnlyList<string> Validate(IConfiguration configuration)
    {
        var errors = new List<string>(DispatcherConfigKeys.Problems(configuration));
        var broker = configuration.GetSection("Broker").Get<BrokerOptions>() ?? new BrokerOptions();
        if (broker.Validate() is { } brokerError)
            errors.Add(brokerError);
        try
        {
            var options = configuration.GetSection(DispatcherOptions.Section).Get<DispatcherOptions>() ?? new DispatcherOptions();
            var result = new DispatcherOptionsValidator().Validate(null, options);
            if (result.Failed)
                errors.AddRange(result.Failures);
            OriginConfig.Resolve(options, errors);
            var ui = configuration.GetSection(UiOptions.Section).Get<UiOptions>() ?? new();
            if (ApiAuth.CheckListen(options.ListenUrl, ui) is { } listenError)
                errors.Add(listenError);
            if (BrowserGuard.CheckAllowedHosts(ui) is { } hostsError)
                errors.Add(hostsError);
            if (errors.Count == 0)
                RequestSigner.Load(options.SigningKeyFile).Dispose();
        }
        catch (InvalidOperationException e)
        {
            errors.Add(e.Message + (e.InnerException is null ? "" : ": " + e.InnerException.Message));
        }
        catch (FormatException e)
        {
            errors.Add("Dispatcher:SigningKeyFile: " + e.Message);
        }

        return errors;
    }
}
