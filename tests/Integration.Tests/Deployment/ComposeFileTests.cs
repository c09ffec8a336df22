using System.Text.RegularExpressions;
using System.Xml.Linq;
using BuildFarm.Messaging.Broker;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

/// <summary>No Docker engine runs here: these tests keep compose/ correct by checking what it refers to.</summary>
public sealed class ComposeFileTests
{
    private static readonly ComposeFile Compose = ComposeFile.Load();
    private static readonly string[] DependencyConditions = ["service_healthy", "service_completed_successfully", "service_started"];

    [Fact]
    public void Compose_Services_RabbitMqDispatcherAndTwoDifferentWorkers()
    {
        var services = Compose.Services;
        Assert.Equal("rabbitmq:3.13-management", ComposeFile.String(services["rabbitmq"], "image"));
        Assert.Contains("dispatcher", services.Keys);
        var workers = services.Where(s => ComposeFile.Environment(s.Value).ContainsKey("BUILDFARM_WORKER__Name")).ToList();
        Assert.Equal(2, workers.Count);
        string Capabilities(Dictionary<object, object> s) =>
            string.Join(';', ComposeFile.Environment(s).Where(e => e.Key.Contains("Systems", StringComparison.Ordinal) || e.Key.Contains("Features", StringComparison.Ordinal)).OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.NotEqual(Capabilities(workers[0].Value), Capabilities(workers[1].Value));
    }

    [Fact]
    public void Compose_EveryBuild_ContextDockerfileCopiedFilesAndProjectsExist()
    {
        foreach (var (name, service) in Compose.Services.Where(s => s.Value.ContainsKey("build")))
        {
            var build = ComposeFile.Map(service, "build");
            var context = Path.GetFullPath(Path.Combine(ComposeFile.Directory, ComposeFile.String(build, "context") ?? "."));
            Assert.True(Directory.Exists(context), $"{name}: build context {context} does not exist");
            var dockerfilePath = Path.Combine(context, ComposeFile.String(build, "dockerfile") ?? "Dockerfile");
            Assert.True(File.Exists(dockerfilePath), $"{name}: Dockerfile {dockerfilePath} does not exist");
            var dockerfile = Dockerfile.Load(dockerfilePath);

            foreach (var source in dockerfile.ContextSources())
                Assert.True(File.Exists(Path.Combine(context, source)) || Directory.Exists(Path.Combine(context, source)), $"{name}: {dockerfilePath} copies {source}, which is not in the context {context}");
            var images = dockerfile.BaseImages().ToList();
            Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:10.0", images[0], StringComparison.Ordinal);
            Assert.Matches("^mcr.microsoft.com/dotnet/(runtime-deps|runtime|aspnet):10.0$", images[^1]);

            // The entry point is the published project's executable, or a script copied from the context that execs it.
            var project = Assert.Single(dockerfile.PublishedProjects());
            var projectPath = Path.Combine(context, project);
            Assert.True(File.Exists(projectPath), $"{name}: {dockerfilePath} publishes {project}, which does not exist");
            var executable = "/opt/buildfarm/bin/" + XDocument.Load(projectPath).Descendants("AssemblyName").Single().Value;
            var entrypoint = dockerfile.ExecForm("ENTRYPOINT")[0];
            if (entrypoint != executable)
            {
                var script = dockerfile.ContextCopies().Where(c => c.Target == entrypoint).Select(c => c.Source).FirstOrDefault();
                Assert.True(script is not null, $"{name}: the entry point {entrypoint} is neither {executable} nor a file copied from the context");
                var text = File.ReadAllText(Path.Combine(context, script));
                Assert.Matches($@"(?m)^readonly BF={Regex.Escape(executable)}$", text);
                Assert.Matches(@"(?m)^exec .*""\$BF"" ""\$@""$", text);
                Assert.True((File.GetUnixFileMode(Path.Combine(context, script)) & UnixFileMode.UserExecute) != 0, $"{name}: {script} is not executable");
            }
        }
    }

    [Fact]
    public void Compose_EveryMount_BindSourceExistsAndNamedVolumeDeclared()
    {
        var declared = ComposeFile.Map(Compose.Root, "volumes").Keys.Cast<string>().ToHashSet();
        foreach (var (name, service) in Compose.Services)
        {
            foreach (var (source, target, isBind) in ComposeFile.Volumes(service))
            {
                Assert.StartsWith("/", target, StringComparison.Ordinal);
                if (isBind)
                    Assert.True(File.Exists(Path.Combine(ComposeFile.Directory, source)) || Directory.Exists(Path.Combine(ComposeFile.Directory, source)), $"{name}: bind mount source {source} does not exist in compose/");
                else
                    Assert.True(declared.Contains(source), $"{name}: volume '{source}' is not declared under the top-level volumes");
            }
        }
    }

    [Fact]
    public void Compose_ConfigFilesNamedByCommands_AreMounted()
    {
        foreach (var (name, service) in Compose.Services.Where(s => s.Value.ContainsKey("build") && !s.Value.ContainsKey("entrypoint")))
        {
            var build = ComposeFile.Map(service, "build");
            var dockerfile = Dockerfile.Load(Path.Combine(ComposeFile.Directory, ComposeFile.String(build, "context")!, ComposeFile.String(build, "dockerfile")!));
            var command = ComposeFile.Strings(service, "command") is { Count: > 0 } c ? c : [.. dockerfile.ExecForm("CMD")];
            var config = command[command.IndexOf("--config") + 1];
            Assert.Contains(ComposeFile.Volumes(service), v => v.Target == config);
        }
    }

    [Fact]
    public void Compose_LongRunningServices_HaveHealthChecksAndKnownDependencies()
    {
        var services = Compose.Services;
        foreach (var (name, service) in services)
        {
            var oneShot = ComposeFile.String(service, "restart") == "no";
            if (!oneShot)
            {
                var test = ComposeFile.Strings(ComposeFile.Map(service, "healthcheck"), "test");
                Assert.True(test.Count > 1 && test[0] is "CMD" or "CMD-SHELL", $"{name}: no health check");
            }

            foreach (var (dependency, condition) in ComposeFile.Map(service, "depends_on"))
            {
                Assert.True(services.ContainsKey((string)dependency), $"{name} depends on unknown service {dependency}");
                var wanted = ComposeFile.String((Dictionary<object, object>)condition, "condition");
                Assert.Contains(wanted, DependencyConditions);
                if (wanted == "service_healthy")
                    Assert.True(services[(string)dependency].ContainsKey("healthcheck"), $"{name} waits for {dependency} to be healthy, which has no health check");
            }
        }
    }

    [Fact]
    public void Compose_Ports_MatchListenersHealthChecksAndBrokerUris()
    {
        var services = Compose.Services;
        var hostPorts = services.Values.SelectMany(ComposeFile.Ports).Select(p => p.Host).ToList();
        Assert.Equal(hostPorts.Distinct().Count(), hostPorts.Count);
        Assert.Contains((5672, 5672), ComposeFile.Ports(services["rabbitmq"]));
        Assert.Contains((15672, 15672), ComposeFile.Ports(services["rabbitmq"]));

        // The dispatcher listens where its port is published and where its health check knocks.
        var dispatcher = services["dispatcher"];
        var listen = ComposeFile.Environment(dispatcher).Single(e => e.Key == "BUILDFARM_DISPATCHER__ListenUrl").Value;
        var listenPort = new Uri(listen).Port;
        Assert.Contains(ComposeFile.Ports(dispatcher), p => p.Container == listenPort);
        Assert.Contains($"/{listenPort}", string.Join(' ', ComposeFile.Strings(ComposeFile.Map(dispatcher, "healthcheck"), "test")), StringComparison.Ordinal);

        // Every broker URI names the RabbitMQ service, its AMQP port and the service's own user (no password: that is
        // in the user's file of the broker volume, which init-keys.sh generated).
        var users = 0;
        foreach (var (name, service) in services)
        {
            var env = ComposeFile.Environment(service).ToDictionary(e => e.Key, e => e.Value);
            foreach (var (key, value) in env.Where(e => e.Key.EndsWith("Broker__Uri", StringComparison.Ordinal)))
            {
                var uri = new Uri(value);
                Assert.True(uri.Host == "rabbitmq" && uri.Port == 5672, $"{name}: {key}={value} does not point at rabbitmq:5672");
                var expected = name == "dispatcher" ? BrokerPermissions.DispatcherUser : BrokerPermissions.WorkerUser(env["BUILDFARM_WORKER__Name"]);
                Assert.Equal(expected, uri.UserInfo);
                Assert.Equal($"/etc/buildfarm/broker/{expected}.password", env[key.Replace("Uri", "PasswordFile", StringComparison.Ordinal)]);
                Assert.Contains("rabbitmq", ComposeFile.Map(service, "depends_on").Keys.Cast<string>());
                users++;
            }
        }

        Assert.Equal(3, users);
    }

    [Fact]
    public void Compose_Broker_LoopbackOnlyAndNoDefaultPassword()
    {
        var services = Compose.Services;
        foreach (var (name, service) in services)
        {
            foreach (var port in ComposeFile.Strings(service, "ports"))
                Assert.True(port.StartsWith("127.0.0.1:", StringComparison.Ordinal), $"{name} publishes {port} beyond loopback");
        }

        var rabbit = services["rabbitmq"];
        Assert.DoesNotContain(ComposeFile.Environment(rabbit), e => e.Key.StartsWith("RABBITMQ_DEFAULT_", StringComparison.Ordinal));
        var conf = File.ReadAllText(Path.Combine(ComposeFile.Directory, "config", "rabbitmq.conf"));
        Assert.Contains("load_definitions = /etc/buildfarm/broker/definitions.json", conf, StringComparison.Ordinal);
        Assert.Equal(["--broker-dir", "/etc/buildfarm/broker"], ComposeFile.Strings(services["keys"], "command").Take(2));
    }

    [Fact]
    public void Compose_EveryBuildfarmVariable_IsReadByTheCode()
    {
        var problems = Compose.Services.Values.SelectMany(ComposeFile.Environment)
            .Where(e => e.Key.StartsWith("BUILDFARM_", StringComparison.Ordinal))
            .Select(e => ConfigurationVariables.Problem(e.Key, e.Value))
            .OfType<string>().ToList();

        Assert.True(problems.Count == 0, "compose.yaml sets variables the code does not read:\n" + string.Join('\n', problems));
    }
}
