using System.CommandLine;
using BuildFarm.Messaging.Broker;

namespace BuildFarm.Cli.Broker;

/// <summary>
/// <c>buildfarm broker user dispatcher|worker NAME|monitoring</c>: the RabbitMQ user of one role and its narrowest
/// permissions (<see cref="BrokerPermissions"/>), for <c>rabbitmqctl</c>. Default output, one item a line, in
/// <c>set_permissions</c>' order so a script passes lines 1-4 straight through: user, configure, write, read, tags.
/// With <c>--rabbitmqctl</c>, the commands an operator runs (the password is asked for, never on argv).
/// </summary>
internal static class BrokerCommands
{
    public static Command Create()
    {
        var broker = new Command("broker", "RabbitMQ users and permissions of a farm");
        var role = new Argument<string>("ROLE") { Description = "dispatcher, worker or monitoring" };
        role.AcceptOnlyFromAmong("dispatcher", "worker", "monitoring");
        var name = new Argument<string?>("NAME") { Description = "The worker's name (its Name setting), for ROLE worker", Arity = ArgumentArity.ZeroOrOne };
        var vhost = new Option<string>("--vhost") { Description = "Virtual host (default /)", DefaultValueFactory = _ => "/" };
        var commands = new Option<bool>("--rabbitmqctl") { Description = "Print the rabbitmqctl commands that create the user" };
        var user = new Command("user", "Print a role's broker user and its configure/write/read permission regexes") { role, name, vhost, commands };
        user.SetAction((result, _) => CliErrorHandler.RunAsync(result, "broker user", async () =>
        {
            var (userName, permission, tags) = Resolve(result.GetRequiredValue(role), result.GetValue(name));
            var output = result.InvocationConfiguration.Output;
            if (!result.GetValue(commands))
            {
                foreach (var line in new[] { userName, permission.Configure, permission.Write, permission.Read, tags })
                    await output.WriteLineAsync(line);
                return 0;
            }

            var v = Quote(result.GetValue(vhost) ?? "/");
            await output.WriteLineAsync($"rabbitmqctl add_user {Quote(userName)}   # asks for the password");
            await output.WriteLineAsync($"rabbitmqctl set_permissions -p {v} {Quote(userName)} {Quote(permission.Configure)} {Quote(permission.Write)} {Quote(permission.Read)}");
            await output.WriteLineAsync($"rabbitmqctl set_user_tags {Quote(userName)}{(tags.Length == 0 ? "" : " " + tags)}");
            return 0;
        }));
        broker.Subcommands.Add(user);
        return broker;
    }

    private static (string User, BrokerGrant Permission, string Tags) Resolve(string role, string? name)
    {
        if (role == "worker")
        {
            if (string.IsNullOrEmpty(name))
                throw new CliError("broker user worker: give the worker's NAME (its Name setting)");
            try
            {
                return (BrokerPermissions.WorkerUser(name), BrokerPermissions.Worker(name), "");
            }
            catch (ArgumentException e)
            {
                throw new CliError(e.Message.Split(" (Parameter")[0]);
            }
        }

        if (!string.IsNullOrEmpty(name))
            throw new CliError($"broker user {role}: takes no NAME (only worker does)");
        return role == "dispatcher"
            ? (BrokerPermissions.DispatcherUser, BrokerPermissions.Dispatcher(), "")
            : (BrokerPermissions.MonitoringUser, BrokerPermissions.Monitoring(), "monitoring");
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
