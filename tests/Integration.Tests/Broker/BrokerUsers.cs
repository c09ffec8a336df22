using BuildFarm.Messaging.Broker;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Broker;

/// <summary>Creates a farm's broker users on a test node the way <c>./farm up</c> does: <c>buildfarm broker definitions</c>' JSON through <c>rabbitmqctl import_definitions</c>.</summary>
internal static class BrokerUsers
{
    public static async Task CreateAsync(RabbitMqServer server, string secretsDir, params BrokerUser[] users)
    {
        var defs = Path.Combine(secretsDir, $"definitions-{Guid.NewGuid():N}.json");
        Directory.CreateDirectory(secretsDir);
        await File.WriteAllTextAsync(defs, BrokerDefinitions.Build(secretsDir, "/", users));
        var result = await server.CtlAsync(["import_definitions", defs]);
        Assert.True(result.ExitCode == 0, $"import_definitions: {result.Stderr}{result.Stdout}");
        // The import is asynchronous: wait until every user authenticates. Each check is a rabbitmqctl process (an
        // Erlang VM started), seconds apiece on a loaded 2-core machine: 30 s was once too short for the first user.
        foreach (var user in users)
        {
            var password = await File.ReadAllTextAsync(PasswordFile(secretsDir, user.Name));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            ProcessResult check;
            while ((check = await server.CtlAsync(["authenticate_user", user.Name, password.Trim()])).ExitCode != 0)
            {
                Assert.True(DateTime.UtcNow < deadline,
                    $"user {user.Name} did not appear within 90 s of import_definitions; the last check exited {check.ExitCode}: {check.Stderr}{check.Stdout}");
                await Task.Delay(200);
            }
        }
    }

    public static string PasswordFile(string secretsDir, string user) => Path.Combine(secretsDir, user + ".password");

    /// <summary>Options that connect as <paramref name="user"/> (password from its file) to <paramref name="server"/>.</summary>
    public static BrokerOptions Options(RabbitMqServer server, string secretsDir, string user, string? caFile = null) => new()
    {
        Uri = server.UriFor(user),
        PasswordFile = PasswordFile(secretsDir, user),
        CaCertificateFile = caFile ?? server.Tls?.CaFile ?? "",
    };
}
