using BuildFarm.Messaging.Broker;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Consuming;
using BuildFarm.Worker.Control;
using BuildFarm.Worker.Events;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Heartbeat;
using BuildFarm.Worker.Keys;
using BuildFarm.Worker.Lifecycle;
using BuildFarm.Worker.Origins;
using BuildFarm.Worker.Outputs;
using BuildFarm.Worker.Storage;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace BuildFarm.Worker.Hosting;

/// <summary>The worker agent's composition: everything <c>buildfarm-worker run</c> hosts.</summary>
internal static class WorkerHostExtensions
{
    /// <param name="builder">A host whose configuration already holds the worker's keys (root object = <see cref="WorkerOptions"/>).</param>
    /// <param name="configureLogging">Extra Serilog sinks (tests capture events with it).</param>
    /// <param name="handleSignals">Install the two-step SIGTERM lifetime (off for in-process test hosts).</param>
    public static IHostApplicationBuilder AddWorker(
        this IHostApplicationBuilder builder, Action<LoggerConfiguration>? configureLogging = null, bool handleSignals = true)
    {
        var services = builder.Services;
        services.AddOptions<WorkerOptions>()
            .Bind(builder.Configuration, b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<WorkerOptions>, WorkerOptionsValidator>();
        var snapshot = new WorkerOptions();
        builder.Configuration.Bind(snapshot);
        // One logger per host (tests run several workers in one process), never the static Log.Logger.
        var logger = CreateLogger(snapshot, configureLogging);
        services.AddSerilog(logger, dispose: true);
        services.AddSingleton<ILogger>(logger);
        if (TestClockOffset.FromEnvironment() is { } skewed)
            services.TryAddSingleton(skewed);
        services.TryAddSingleton(TimeProvider.System);

        services.AddSingleton(sp => WorkerKeys.Load(sp.GetRequiredService<IOptions<WorkerOptions>>().Value.Keys));
        services.AddSingleton(sp => new SlotGate(sp.GetRequiredService<IOptions<WorkerOptions>>().Value.Slots));
        services.AddSingleton<WorkerState>();
        services.AddSingleton<RunningBuilds>();
        services.AddSingleton<EventPublisher>();
        services.AddSingleton<DispatcherClock>();
        services.AddSingleton<AppliedCommands>();
        services.AddSingleton<CommandVerifier>();
        services.AddSingleton<OfflineAnnouncer>();
        services.AddSingleton<DrainCoordinator>();
        services.AddSingleton<IDerivationReader, AtermDerivationReader>();
        services.AddSingleton<IsolationChoice>();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<WorkerOptions>>().Value;
            var isolation = sp.GetRequiredService<IsolationChoice>();
            return new RequestVerifier(sp.GetRequiredService<WorkerKeys>(), () => isolation.Capabilities(o), o.Store.StoreDir,
                sp.GetRequiredService<IDerivationReader>(), o.Freshness, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<DispatcherClock>());
        });
        // Builders run in the sandbox when the start-up probe works (ExecutorSelection, started before the consumers and
        // the heartbeat: IsolationChoice then says what the worker consumes and reports); inputs come from the request's
        // origin and outputs go back to it over pooled SSH (Origins/); outputs are registered and signed in WorkerStore (Storage/).
        services.AddSingleton<WorkerStore>();
        // The store as a cache (Store:MaxSizeBytes, Store:MinFreeBytes): one collection before the consumers start.
        services.AddSingleton<StoreCache>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreCache>());
        services.AddSingleton<ExecutorSelection>();
        services.AddHostedService(sp => sp.GetRequiredService<ExecutorSelection>());
        services.TryAddSingleton<IBuildExecutor>(sp => sp.GetRequiredService<ExecutorSelection>());
        services.AddSingleton<OriginRegistry>();
        services.TryAddSingleton<IInputProvider, InputPuller>();
        services.TryAddSingleton<IOutputRegistrar, LocalStoreRegistrar>();
        services.TryAddSingleton<IOutputUploader, OriginOutputUploader>();
        services.AddSingleton<OriginWatch>();
        // Stops claiming while the disk is full (Store:PauseBelowFreeBytes); checked before the consumers start.
        services.AddSingleton<DiskSpaceGuard>();
        services.AddHostedService(sp => sp.GetRequiredService<DiskSpaceGuard>());
        services.AddSingleton<AttemptRunner>();

        services.AddMassTransit(x =>
        {
            x.AddConsumer<CancelBuildConsumer>();
            x.AddConsumer<DrainWorkerConsumer>();
            x.AddConsumer<PauseWorkerConsumer>();
            x.AddConsumer<ResumeWorkerConsumer>();
            x.AddConsumer<ProbeWorkersConsumer>();
            x.UsingRabbitMq((context, cfg) =>
            {
                var o = context.GetRequiredService<IOptions<WorkerOptions>>().Value;
                cfg.ConfigureHost(o.Broker, $"buildfarm-worker {o.Name} events");
                // Results, BuildStarted and heartbeats must get through after a broker node dies (issue #18).
                cfg.ReplaceRefusingChannels(context);
                // A fixed name instead of MassTransit's HOST_PROCESS_bus_RANDOM: the worker's broker user may configure
                // only queues and exchanges under its own name (BrokerPermissions).
                cfg.OverrideDefaultBusEndpointQueueName(BrokerPermissions.WorkerBusEndpoint(o.Name));
                // Auto-deleted: control commands are only meaningful to a live worker.
                cfg.ReceiveEndpoint(BrokerPermissions.WorkerControlEndpoint(o.Name), e =>
                {
                    e.AutoDelete = true;
                    e.Durable = false;
                    // No Fault<T> exchanges: nobody consumes them, and the worker's broker user may not declare them.
                    e.PublishFaults = false;
                    e.ConfigureConsumer<CancelBuildConsumer>(context);
                    e.ConfigureConsumer<DrainWorkerConsumer>(context);
                    e.ConfigureConsumer<PauseWorkerConsumer>(context);
                    e.ConfigureConsumer<ResumeWorkerConsumer>(context);
                    e.ConfigureConsumer<ProbeWorkersConsumer>(context);
                });
            });
        });
        services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            o.WaitUntilStarted = true;
            o.StopTimeout = TimeSpan.FromSeconds(30);
        });

        // Registered after MassTransit: started after the bus is up, stopped before it goes down.
        services.AddSingleton<BuildClaim>();
        services.AddSingleton<BuildQueueConsumer>();
        services.AddHostedService(sp => sp.GetRequiredService<BuildQueueConsumer>());
        services.AddHostedService<HeartbeatService>();
        if (handleSignals)
            services.AddSingleton<IHostLifetime, TwoStepSignalLifetime>();
        return builder;
    }

    private static Serilog.Core.Logger CreateLogger(WorkerOptions o, Action<LoggerConfiguration>? configure)
    {
        var lc = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("MassTransit", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.WithProperty("Worker", o.Name)
            .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Worker}: {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: LogEventLevel.Verbose);
        if (!string.IsNullOrEmpty(o.Logs.JsonFile))
            lc.WriteTo.File(new CompactJsonFormatter(), o.Logs.JsonFile);
        configure?.Invoke(lc);
        return lc.CreateLogger();
    }
}
