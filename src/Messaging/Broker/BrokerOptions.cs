namespace BuildFarm.Messaging.Broker;

/// <summary>How to reach RabbitMQ.</summary>
public sealed class BrokerOptions
{
    /// <summary>AMQP URI, e.g. <c>amqp://buildfarm:secret@localhost:5672/</c>. Several nodes of a cluster may be
    /// given, separated by commas; the client connects to the first that answers.</summary>
    public string Uri { get; set; } = "amqp://guest:guest@localhost:5672/";

    /// <summary>Virtual host; empty means the one in <see cref="Uri"/>.</summary>
    public string VirtualHost { get; set; } = "";

    /// <summary>PEM file of the CA(s) that signed the broker's certificate, for <c>amqps://</c>. When set, only these
    /// CAs are trusted (not the system's); empty means the system's trusted CAs. Read and checked at start-up.</summary>
    public string CaCertificateFile { get; set; } = "";

    /// <summary>File holding the broker password (its first line), readable by its owner only; when set it replaces
    /// the password in <see cref="Uri"/>, so the URI in a config file or environment carries no secret.</summary>
    public string PasswordFile { get; set; } = "";

    /// <summary>The password from <see cref="PasswordFile"/>, or null when none is configured.</summary>
    public string? ReadPasswordFile()
    {
        if (PasswordFile.Length == 0)
            return null;
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(PasswordFile) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            throw new InvalidOperationException($"Broker:PasswordFile '{PasswordFile}' is readable by group or others: chmod 600 it");
        var password = File.ReadLines(PasswordFile).FirstOrDefault()?.TrimEnd('\r') ?? "";
        return password.Length == 0
            ? throw new InvalidOperationException($"Broker:PasswordFile '{PasswordFile}' is empty: its first line is the broker password")
            : password;
    }

    /// <summary>Null when valid; otherwise what is wrong with which key.</summary>
    public string? Validate()
    {
        if (PasswordFile.Length > 0)
        {
            if (!Path.IsPathRooted(PasswordFile))
                return $"Broker:PasswordFile '{PasswordFile}' is invalid: must be an absolute path";
            try
            {
                ReadPasswordFile();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"Broker:PasswordFile '{PasswordFile}' is unreadable: {e.Message}";
            }
            catch (InvalidOperationException e)
            {
                return e.Message;
            }
        }

        if (CaCertificateFile.Length > 0)
        {
            if (!Path.IsPathRooted(CaCertificateFile))
                return $"Broker:CaCertificateFile '{CaCertificateFile}' is invalid: must be an absolute path to a PEM file";
            try
            {
                BrokerTls.LoadAuthorities(CaCertificateFile);
            }
            catch (InvalidOperationException e)
            {
                return e.Message;
            }
        }

        foreach (var part in Uri.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!System.Uri.TryCreate(part, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps"))
                return $"Broker:Uri '{part}' is not an amqp:// or amqps:// URI (e.g. amqp://user:password@host:5672/)";
        }

        return Uri.Trim().Length == 0 ? "Broker:Uri is empty (e.g. amqp://user:password@host:5672/)" : null;
    }

    public IReadOnlyList<Uri> Endpoints() =>
        Uri.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(u => new Uri(u)).ToArray();
}
