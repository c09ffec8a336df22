namespace BuildFarm.Store.Local;

/// <summary>
/// A store operation refused for a reason the user can act on (a path that is not valid, a reference that is
/// missing, a bad archive). The message says what, where and why, and is shown verbatim.
/// </summary>
public class StoreException : Exception
{
    public StoreException()
    {
    }

    public StoreException(string message)
        : base(message)
    {
    }

    public StoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
