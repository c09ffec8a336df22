using System.Text.RegularExpressions;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using Microsoft.Extensions.Configuration;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>
/// The compose farm's configuration as the programs read it, with the keys compose/init-keys.sh really generates:
/// each worker's and the dispatcher's config passes the program's own start-up validation, and both sides agree
/// on the origin (the dispatcher container's sshd).
/// </summary>
public sealed partial class ComposeOffloadTests(ComposeKeys keys) : IClassFixture<ComposeKeys>
{
    private static readonly ComposeFile Compose = ComposeFile.Load();

    private static IEnumerable<KeyValuePair<string, Dictionary<object, object>>> WorkerServices =>
        Compose.Services.Where(s => ComposeFile.Environment(s.Value).ContainsKey("BUILDFARM_WORKER__Name"));

    [Fact]
    public void Compose_KeyFilesNamedInVariablesAndConfigs_ExistAfterInitKeys()
    {
        var configs = Directory.EnumerateFiles(Path.Combine(ComposeFile.Directory, "config")).Select(File.ReadAllText);
        var named = Compose.Services.Values.SelectMany(ComposeFile.Environment).Select(e => e.Value).Concat(configs)
            .SelectMany(text => KeyFile().Matches(text).Select(m => m.Value)).Distinct().ToList();

        Assert.Contains(keys.ContainerDir + "/trusted-worker-keys", named);
        Assert.Contains(keys.ContainerDir + "/origin_host_ed25519.pub", named);
        foreach (var path in named)
            Assert.True(File.Exists(keys.Map(path)), $"{path} is named by compose but not written by init-keys.sh into {keys.ContainerDir}");
    }

    [Fact]
    public void Compose_EachWorker_ConfigPassesTheWorkersValidatorWithItsOwnKeys()
    {
        var workers = WorkerServices.ToList();
        Assert.Equal(keys.Workers.Order(StringComparer.Ordinal), workers.Select(w => w.Key).Order(StringComparer.Ordinal));
        foreach (var (name, service) in workers)
        {
            var options = WorkerOptionsOf(service);

            Assert.Equal(name, options.Name);
            var problems = WorkerOptionsValidator.Problems(options);
            Assert.True(problems.Count == 0, $"{name}: {string.Join("; ", problems)}");
            Assert.Equal(keys.Map($"{keys.ContainerDir}/{name}.secret"), options.Keys.SigningKeyFile);
            Assert.Equal(keys.Map($"{keys.ContainerDir}/{name}.ssh"), options.Origins.PrivateKeyFile);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(options.Origins.PrivateKeyFile));
            Assert.Single(options.Origins.PinnedHostKeys);
            // Its own broker user, whose password file init-keys.sh made (0600) and the validator read.
            Assert.Equal(keys.Map($"{keys.ContainerBrokerDir}/buildfarm-worker-{name}.password"), options.Broker.PasswordFile);
            Assert.NotNull(options.Broker.ReadPasswordFile());
        }
    }

    [Fact]
    public async Task Compose_Dispatcher_ConfigPassesItsStartUpValidationWithTheOriginAndEveryWorkersKey()
    {
        var config = DispatcherConfiguration();

        Assert.Empty(DispatcherRegistration.Validate(config));
        var options = config.GetSection(DispatcherOptions.Section).Get<DispatcherOptions>()!;
        var origin = OriginConfig.Resolve(options, []);
        Assert.NotNull(origin);
        var expected = (await ProcessRunner.RunAsync("ssh-keygen", ["-l", "-E", "sha256", "-f", Path.Combine(keys.Dir, "origin_host_ed25519.pub")]))
            .EnsureSuccess("ssh-keygen -l").Stdout.Split(' ')[1];
        Assert.Equal(("dispatcher", 22, expected), (origin.Endpoint.Host, origin.Endpoint.Port, origin.Endpoint.HostKeyFingerprint));
        Assert.Equal(keys.Workers.Order(StringComparer.Ordinal), origin.WorkerKeys.Current().Keys.Select(k => k.Name).Order(StringComparer.Ordinal));
        // The remote command is the image's buildfarm on the dispatcher's own origin store.
        Assert.Equal($"/opt/buildfarm/bin/buildfarm --store-dir {options.StoreDir} --root {options.Root}", origin.Endpoint.RemoteCommand);
    }

    [Fact]
    public void Compose_WorkersAndDispatcher_AgreeOnTheOriginAndItsLogins()
    {
        var options = DispatcherConfiguration().GetSection(DispatcherOptions.Section).Get<DispatcherOptions>()!;
        var origin = OriginConfig.Resolve(options, [])!;
        var authorized = File.ReadAllLines(Path.Combine(keys.Dir, "origin-authorized-keys"));
        var inputKeys = File.ReadAllText(Path.Combine(keys.Dir, "trusted-origin-keys"));

        foreach (var (name, service) in WorkerServices)
        {
            var worker = WorkerOptionsOf(service);
            // What the worker's OriginRegistry checks for every request: host:port pinned with the request's fingerprint.
            var pin = Assert.Single(worker.Origins.PinnedHostKeys);
            Assert.Equal((origin.Endpoint.Host, origin.Endpoint.Port), (pin.Host, pin.Port));
            Assert.Equal(origin.Endpoint.HostKeyFingerprint, pin.ResolveFingerprint(out var error) ?? error);
            // The origin's sshd lets it in, and its input keys include the dispatcher and every worker.
            var login = File.ReadAllText(worker.Origins.PrivateKeyFile + ".pub").Trim();
            // ...only as `buildfarm origin-serve` on the very store the dispatcher names in its RemoteCommand.
            Assert.Contains($"command=\"{origin.Endpoint.RemoteCommand} origin-serve\",restrict " + login, authorized);
            Assert.Contains(File.ReadAllText(Path.Combine(keys.Dir, name + ".public")), inputKeys, StringComparison.Ordinal);
            Assert.Contains(File.ReadAllText(Path.Combine(keys.Dir, "dispatcher.public")), inputKeys, StringComparison.Ordinal);
        }
    }

    /// <summary>The sshd the dispatcher image's entry point starts: a valid config over init-keys.sh's files, for the Origin:User.</summary>
    [Fact]
    public async Task Compose_DispatcherImage_StartsAnSshdForTheOriginUserThatAcceptsItsConfig()
    {
        var user = ComposeFile.Environment(Compose.Services["dispatcher"])["BUILDFARM_DISPATCHER__Origin__User"];
        var entrypoint = File.ReadAllText(Path.Combine(ComposeFile.Directory, "dispatcher-entrypoint.sh"));
        var sshdConfig = SshdConfig().Match(entrypoint);
        Assert.True(sshdConfig.Success, "dispatcher-entrypoint.sh writes no sshd config (cat >\"$SSHD_CONFIG\" <<CONF … CONF)");
        var text = sshdConfig.Groups[1].Value.Replace("$KEYS", keys.Dir, StringComparison.Ordinal);
        Assert.Contains($"AllowUsers {user}\n", text, StringComparison.Ordinal);
        Assert.Contains($"AuthorizedKeysFile {keys.Dir}/origin-authorized-keys\n", text, StringComparison.Ordinal);
        Assert.Contains($"HostKey {keys.Dir}/origin_host_ed25519\n", text, StringComparison.Ordinal);
        var file = Path.Combine(keys.Dir, "..", "sshd_config");
        await File.WriteAllTextAsync(file, text);
        (await ProcessRunner.RunAsync("/usr/sbin/sshd", ["-t", "-f", file])).EnsureSuccess("sshd -t on the entry point's config");

        // The image gives that user a login shell (sshd runs commands through it) and an unlocked, password-less account.
        var dockerfile = File.ReadAllText(Path.Combine(ComposeFile.Directory, "dispatcher.Dockerfile"));
        Assert.Matches($@"useradd [^\n]*--shell /bin/sh {user}\b", dockerfile);
        Assert.Contains($"usermod -p '*' {user}", dockerfile, StringComparison.Ordinal);
        Assert.Contains("openssh-server", dockerfile, StringComparison.Ordinal);
    }

    /// <summary>compose/config/worker.json + the service's BUILDFARM_WORKER__ variables, bound as the worker binds them.</summary>
    private WorkerOptions WorkerOptionsOf(Dictionary<object, object> service)
    {
        var json = keys.Map(File.ReadAllText(Path.Combine(ComposeFile.Directory, "config", "worker.json")));
        var env = ComposeFile.Environment(service).Where(e => e.Key.StartsWith("BUILDFARM_WORKER__", StringComparison.Ordinal))
            .ToDictionary(e => e.Key["BUILDFARM_WORKER__".Length..].Replace("__", ":", StringComparison.Ordinal), e => (string?)keys.Map(e.Value));
        var options = new WorkerOptions();
        new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).AddInMemoryCollection(env).Build()
            .Bind(options, b => b.ErrorOnUnknownConfiguration = true);
        return options;
    }

    /// <summary>compose/config/dispatcher.json + the dispatcher service's variables, mapped as the dispatcher maps them.</summary>
    private IConfigurationRoot DispatcherConfiguration()
    {
        var json = keys.Map(File.ReadAllText(Path.Combine(ComposeFile.Directory, "config", "dispatcher.json")));
        var env = ComposeFile.Environment(Compose.Services["dispatcher"]).ToDictionary(e => e.Key, e => keys.Map(e.Value));
        return new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)))
            .AddInMemoryCollection(DispatcherEnvironment.Map(env)).Build();
    }

    [GeneratedRegex(@"/etc/buildfarm/keys/[A-Za-z0-9._-]+")]
    private static partial Regex KeyFile();

    [GeneratedRegex("cat >\"\\$SSHD_CONFIG\" <<CONF\n(.*?\n)CONF\n", RegexOptions.Singleline)]
    private static partial Regex SshdConfig();
}
