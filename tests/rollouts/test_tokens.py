from rollouts.tokens import hash_secret, issue_token, secret_matches, split_token


def test_an_issued_token_splits_back_into_its_id_and_secret():
    token = issue_token()
    public_id, secret = split_token(token.plaintext)
    assert public_id == token.public_id
    assert secret_matches(secret, token.secret_hash)


def test_the_hash_does_not_contain_the_secret():
    token = issue_token()
    _, secret = split_token(token.plaintext)
    assert secret not in token.secret_hash
    assert token.secret_hash == hash_secret(secret)


def test_two_tokens_differ():
    assert issue_token().plaintext != issue_token().plaintext


def test_strings_that_are_not_tokens_do_not_split():
    for value in ["", "vt_", "Token abc", "vt_XYZ_abc", "vt_0123456789abcdef_short"]:
        assert split_token(value) is None


def test_a_wrong_secret_does_not_match():
    token = issue_token()
    assert not secret_matches("A" * 43, token.secret_hash)
