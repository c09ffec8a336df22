using System.CommandLine;
using BuildFarm.Messaging.Broker;

namespace BuildFarm.Cli.Broker;

/// <summary>
/// <c>buildfarm broker user ROLE [NAME]</c> prints one role's RabbitMQ user and narrowest permissions
/// (<see cref="BrokerPermissions"/>), one item a line in <c>rabbitmqctl set_permissions</c>' order: user, configure,
/// write, read, then the management tags. <c>buildfarm broker definitions</c> prints the definitions JSON that
/// creates the farm's users (<see cref="BrokerDefinitions"/>), for <c>rabbitmqctl import_definitions</c> or
/// RabbitMQ's <c>load_definitions</c>.
/// </summary>
internal static class BrokerCommands
{
    public static Command Create()
    {
        var broker = new Command("broker", "RabbitMQ users and permissions of a farm, one user per role");
        broker.Subcommands.Add(UserCommand());
        broker.Subcommands.Add(DefinitionsCommand());
        return broker;
    }

    private static Command UserCommand()
    {
        var role = new Argument<string>("ROLE") { Description = "dispatcher, worker or monitoring" };
        role.AcceptOnlyFromAmong("dispatcher", "worker", "monitoring");
        var name = new Argument<string?>("NAME") { Description = "The worker's name (its Name setting), for ROLE worker", Arity = ArgumentArity.ZeroOrOne };
        var user = new Command("user", "Print a role's broker user, its configure, write and read permission regexes and its tags, one a line") { role, name };
        user.SetAction((result, _) => CliErrorHandler.RunAsync(result, "broker user", async () =>
        {
            var u = Resolve(result.GetRequiredValue(role), result.GetValue(name));
            foreach (var line in new[] { u.Name, u.Grant.Configure, u.Grant.Write, u.Grant.Read, u.Tags })
                await result.InvocationConfiguration.Output.WriteLineAsync(line);
            return 0;
        }));
        return user;
    }

    private static Command DefinitionsCommand()
    {
        var secrets = new Option<string>("--secrets-dir") { Description = "Directory of the USER.password files (0600; a missing one is generated)", Required = true };
        var dispatcher = new Option<bool>("--dispatcher") { Description = "Include the dispatcher's user" };
        var monitoring = new Option<bool>("--monitoring") { Description = "Include the read-only monitoring user (management UI)" };
        var workers = new Option<string[]>("--worker") { Description = "Include this worker's user (repeatable)", AllowMultipleArgumentsPerToken = false };
        var vhost = new Option<string>("--vhost") { Description = "Virtual host (default /)", DefaultValueFactory = _ => "/" };
        var command = new Command("definitions", "Print RabbitMQ definitions (users with hashed passwords, permissions) for rabbitmqctl import_definitions")
        {
            secrets, dispatcher, monitoring, workers, vhost,
        };
        command.SetAction((result, _) => CliErrorHandler.RunAsync(result, "broker definitions", async () =>
        {
            var users = new List<BrokerUser>();
            if (result.GetValue(dispatcher))
                users.Add(BrokerDefinitions.Dispatcher());
            if (result.GetValue(monitoring))
                users.Add(BrokerDefinitions.Monitoring());
            users.AddRange((result.GetValue(workers) ?? []).Select(w => Resolve("worker", w)));
            if (users.Count == 0)
                throw new CliError("broker definitions: name at least one user (--dispatcher, --monitoring, --worker NAME)");
            string json;
            try
            {
                json = BrokerDefinitions.Build(result.GetRequiredValue(secrets), result.GetValue(vhost) ?? "/", users);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                throw new CliError($"broker definitions: {e.Message}");
            }

            await result.InvocationConfiguration.Output.WriteLineAsync(json);
            return 0;
        }));
        return command;
    }

    private static BrokerUser Resolve(string role, string? name)
    {
        if (role == "worker")
        {
            if (string.IsNullOrEmpty(name))
                throw new CliError("broker user worker: give the worker's NAME (its Name setting)");
            try
            {
                return BrokerDefinitions.Worker(name);
            }
            catch (ArgumentException e)
            {
                throw new CliError(e.Message.Split(" (Parameter")[0]);
            }
        }

        if (!string.IsNullOrEmpty(name))
            throw new CliError($"broker user {role}: takes no NAME (only worker does)");
        return role == "dispatcher" ? BrokerDefinitions.Dispatcher() : BrokerDefinitions.Monitoring();
    }
}
