namespace BuildFarm.Store.Schema;

/// <summary>A database this code must not open: its schema is newer than the newest migration it knows.</summary>
public sealed class SchemaVersionException : Exception
{
    public SchemaVersionException()
    {
    }

    public SchemaVersionException(string message)
        : base(message)
    {
    }

    public SchemaVersionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
