using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace BuildFarm.Messaging.Broker;

/// <summary>One broker user of a farm: its name, permissions and management tags.</summary>
public sealed record BrokerUser(string Name, BrokerGrant Grant, string Tags);

/// <summary>
/// RabbitMQ definitions (the JSON of <c>rabbitmqctl import_definitions</c> and of <c>load_definitions</c> at boot)
/// for a farm's users: each password generated once into <c>DIR/USER.password</c> (0600) and only its salted
/// SHA-256 (<c>rabbit_password_hashing_sha256</c>) in the definitions, so the file the broker reads holds no secret.
/// Importing is additive: a definitions file with one new worker adds that worker and changes no one else.
/// </summary>
public static class BrokerDefinitions
{
    public static BrokerUser Dispatcher() => new(BrokerPermissions.DispatcherUser, BrokerPermissions.Dispatcher(), "");

    public static BrokerUser Worker(string name) => new(BrokerPermissions.WorkerUser(name), BrokerPermissions.Worker(name), "");

    public static BrokerUser Monitoring() => new(BrokerPermissions.MonitoringUser, BrokerPermissions.Monitoring(), "monitoring");

    /// <summary>The password file of <paramref name="user"/> in <paramref name="secretsDir"/>, created (0600) with a fresh password when missing.</summary>
    public static string EnsurePassword(string secretsDir, string user)
    {
        Directory.CreateDirectory(secretsDir);
        var file = Path.Combine(secretsDir, user + ".password");
        if (!File.Exists(file))
        {
            var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');
            var temp = file + ".tmp";
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.Create, Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            using (var writer = new StreamWriter(stream))
                writer.WriteLine(password);
            File.Move(temp, file, overwrite: false);
        }

        return new BrokerOptions { PasswordFile = file }.ReadPasswordFile()!;
    }

    /// <summary>RabbitMQ's <c>rabbit_password_hashing_sha256</c>: base64(salt ‖ SHA-256(salt ‖ password)), 4-byte salt.</summary>
    public static string HashPassword(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(4);
        var hash = SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(password)]);
        return Convert.ToBase64String([.. salt, .. hash]);
    }

    /// <summary>The definitions JSON of <paramref name="users"/> in <paramref name="vhost"/>, passwords from <paramref name="secretsDir"/>.</summary>
    public static string Build(string secretsDir, string vhost, IEnumerable<BrokerUser> users)
    {
        var userArray = new JsonArray();
        var permissions = new JsonArray();
        foreach (var user in users)
        {
            userArray.Add(new JsonObject
            {
                ["name"] = user.Name,
                ["password_hash"] = HashPassword(EnsurePassword(secretsDir, user.Name)),
                ["hashing_algorithm"] = "rabbit_password_hashing_sha256",
                ["tags"] = user.Tags,
            });
            permissions.Add(new JsonObject
            {
                ["user"] = user.Name, ["vhost"] = vhost,
                ["configure"] = user.Grant.Configure, ["write"] = user.Grant.Write, ["read"] = user.Grant.Read,
            });
        }

        return new JsonObject
        {
            ["users"] = userArray,
            ["vhosts"] = new JsonArray(new JsonObject { ["name"] = vhost }),
            ["permissions"] = permissions,
        }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
