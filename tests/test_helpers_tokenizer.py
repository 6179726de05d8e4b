def test_char_tokenizer_round_trip(char_tokenizer):
    ids = char_tokenizer("hi there")["input_ids"]
    assert len(ids) == 8 and max(ids) < 128
    assert char_tokenizer.decode(ids) == "hi there"
    chat = char_tokenizer.apply_chat_template([{"role": "user", "content": "ok"}], add_generation_prompt=True,
                                              tokenize=False)
    assert chat.endswith("<|im_start|>assistant\n")
